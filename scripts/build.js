#!/usr/bin/env node
// Builds the native addon: cmake-js when CMake is available (CUDA compiled in
// when nvcc is found, unless HGAD_CUDA=OFF), otherwise node-gyp with
// binding.gyp (CPU only, the same sources, listed by name: npm run gen:gyp
// writes them with CMakeLists.txt's glob rules). The result is build/Release/hgad.node
// either way.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', shell: process.platform === 'win32' });
  return r.status === 0;
}

function run(cmd, args) {
  console.log(`hgad: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  return r.status === 0;
}

const cudaFlag = String(process.env.HGAD_CUDA ?? '').toUpperCase();
const cudaOff = ['OFF', '0', 'FALSE', 'NO'].includes(cudaFlag);
const forceGyp = process.env.HGAD_BUILD === 'node-gyp';

if (!forceGyp && has('cmake', ['--version'])) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const args = [cmakeJs, 'compile', '--config', 'Release', '--CDHGAD_CUDA=' + (cudaOff ? 'OFF' : 'ON')];
  if (process.env.HGAD_NATIVE_TESTS) args.push('--CDHGAD_NATIVE_TESTS=ON');
  if (run(process.execPath, args)) process.exit(0);
  console.error('hgad: the CMake build failed; trying node-gyp (CPU only)');
} else if (!forceGyp) {
  console.log('hgad: CMake not found; building the CPU backend with node-gyp');
}

const gypBin = (() => {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  }
})();
// Build against the installed Node headers rather than downloading them.
const fs = require('fs');
const nodeDir = process.env.npm_config_nodedir || path.join(path.dirname(process.execPath), '..');
const gypArgs = [gypBin, 'rebuild', '--release'];
if (fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) gypArgs.push(`--nodedir=${nodeDir}`);
if (run(process.execPath, gypArgs)) process.exit(0);
console.error('hgad: the native build failed; see the compiler output above');
process.exit(1);
