// The node-gyp build (binding.gyp) and the CMake build (CMakeLists.txt) must
// compile the same native sources: a file missing from one of them links (the
// addon is a shared library) and dies on first use with "undefined symbol".
// binding.gyp lists its sources by name (written by `npm run gen:gyp`,
// scripts/native_sources.js); this test reads them as gyp does and compares them with the sets CMakeLists.txt's
// file(GLOB) statements select for a CPU-only build. scripts/smoke_gyp.sh
// (.ci/run) builds and runs the gyp addon itself.
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

// The sources of a gyp target, with <!@(command) expanded as gyp does: run in
// the .gyp file's folder, output split on white space.
function gypSources(target: string): string[] {
  const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8')) as { targets: { target_name: string; sources: string[] }[] };
  const t = gyp.targets.find((x) => x.target_name === target);
  if (!t) throw new Error(`binding.gyp has no target ${target}`);
  return t.sources.flatMap((src) => {
    const m = /^<!@\((.*)\)$/.exec(src);
    if (!m) return [src];
    const r = spawnSync(m[1], { cwd: root, shell: true, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m[1]} failed: ${r.stderr}`);
    return r.stdout.split(/\s+/).filter(Boolean);
  });
}

interface CmakeStatement { text: string; cudaOnly: boolean }

// CMakeLists.txt's statements, each marked when it sits inside an if() whose
// condition names HGAD_WITH_CUDA (else() branches are not CUDA-only).
function cmakeStatements(): CmakeStatement[] {
  const src = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8').replace(/#[^\n]*/g, '');
  const out: CmakeStatement[] = [];
  const stack: boolean[] = [];
  for (const m of src.matchAll(/(\w+)\s*\(([^)]*)\)/g)) {
    const cmd = m[1].toLowerCase();
    if (cmd === 'if') stack.push(/HGAD_WITH_CUDA/.test(m[2]));
    else if (cmd === 'else' || cmd === 'elseif') stack[stack.length - 1] = false;
    else if (cmd === 'endif') stack.pop();
    else out.push({ text: `${cmd}(${m[2].replace(/\s+/g, ' ').trim()})`, cudaOnly: stack.includes(true) });
  }
  return out;
}

// The files a CPU-only CMake build puts in `variable`: its file(GLOB) patterns
// (dir/*.ext under CMAKE_SOURCE_DIR) less its list(FILTER ... EXCLUDE REGEX).
function cmakeSet(variable: string): string[] {
  const statements = cmakeStatements().filter((s) => !s.cudaOnly);
  const files: string[] = [];
  for (const s of statements) {
    const glob = /^file\(GLOB (\w+) (?:CONFIGURE_DEPENDS )?(.*)\)$/.exec(s.text);
    if (!glob || glob[1] !== variable) continue;
    for (const pattern of glob[2].split(' ')) {
      const m = /^\$\{CMAKE_SOURCE_DIR\}\/(.+)\/\*(\.\w+)$/.exec(pattern);
      if (!m) throw new Error(`CMakeLists.txt: a glob this test does not read: ${pattern}`);
      for (const e of fs.readdirSync(path.join(root, m[1]), { withFileTypes: true })) if (e.isFile() && e.name.endsWith(m[2])) files.push(`${m[1]}/${e.name}`);
    }
  }
  let kept = files;
  for (const s of statements) {
    const f = /^list\(FILTER (\w+) EXCLUDE REGEX "(.*)"\)$/.exec(s.text);
    if (f && f[1] === variable) kept = kept.filter((x) => !new RegExp(f[2].replace(/\\\\/g, '\\')).test(x));
  }
  return kept.sort();
}

const sorted = (xs: string[]) => [...xs].sort();

test('binding.gyp compiles the addon sources a CPU-only CMake build does', (t) => {
  const cmake = sorted([...cmakeSet('HGAD_NAPI_SOURCES'), ...cmakeSet('HGAD_CPU_SOURCES')]);
  t.true(cmake.includes('native/cpu/gemm_deep.cc') && cmake.includes('native/cpu/device_none.cc'), cmake.join(' '));
  t.deepEqual(sorted(gypSources('hgad')), cmake, 'binding.gyp and CMakeLists.txt differ: run npm run gen:gyp');
});

test('binding.gyp compiles the device bookkeeping test from the sources CMake does', (t) => {
  const cmake = sorted([...cmakeSet('HGAD_DEVICE_SOURCES'), 'native/test/device_lifetimes_test.cc']);
  t.true(cmake.length > 1);
  t.deepEqual(sorted(gypSources('device_lifetimes_test')), cmake, 'binding.gyp and CMakeLists.txt differ: run npm run gen:gyp');
});

test('every C++ source outside native/test is in the addon or the device bookkeeping', (t) => {
  const built = new Set([...gypSources('hgad'), ...gypSources('device_lifetimes_test')]);
  const all = fs.readdirSync(path.join(root, 'native'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'test')
    .flatMap((d) => fs.readdirSync(path.join(root, 'native', d.name)).filter((f) => f.endsWith('.cc')).map((f) => `native/${d.name}/${f}`));
  t.true(all.length > 0);
  t.deepEqual(all.filter((f) => !built.has(f)), []);
});

// The layout ARCHITECTURE.md describes: the op ABI folder holds headers only,
// the kernels folder holds kernels and their helpers only (an op's kernel is
// native/cuda/<family>.cu), the device resources live in native/device.
function filesOf(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

test('native/ops holds only the op ABI headers', (t) => {
  const files = filesOf('native/ops');
  t.true(files.includes('gemm.h') && files.includes('stream.h'), files.join(' '));
  t.deepEqual(files.filter((f) => !f.endsWith('.h')), []);
});

test('native/cuda holds only kernels (.cu) and their helpers (.cuh)', (t) => {
  const files = filesOf('native/cuda');
  t.true(files.includes('gemm.cu') && files.includes('cuda_common.cuh'), files.join(' '));
  t.deepEqual(files.filter((f) => !/\.cuh?$/.test(f)), []);
});

test('native/device holds the device resources: their API, bookkeeping and runtime', (t) => {
  const files = filesOf('native/device');
  for (const f of ['device_api.h', 'device_api.cu', 'runtime.h', 'runtime_cuda.cu', 'allocator.cc', 'resources.cc']) t.true(files.includes(f), `${f} in native/device`);
  // No kernel among them: kernels go in native/cuda.
  t.deepEqual(files.filter((f) => /__global__/.test(fs.readFileSync(path.join(root, 'native/device', f), 'utf8'))), []);
});

test('scripts/native_sources.js answers an unknown group with one error line', (t) => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'native_sources.js'), 'cuda'], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.is(r.stdout, '');
  t.regex(r.stderr.trim(), /^hgad: Expected a source group \(addon, device\) but received "cuda"$/);
});
