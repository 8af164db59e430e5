#!/usr/bin/env node
// The native source lists of the node-gyp build, computed with the glob rules
// of CMakeLists.txt so that the two builds cannot drift apart:
//   addon   the N-API addon, CPU only: native/napi/*.cc, native/cpu/*.cc
//           (CMake's HGAD_NAPI_SOURCES and HGAD_CPU_SOURCES without CUDA,
//           device_none.cc included; native/ops holds headers only)
//   device  the device bookkeeping: native/device/*.cc (CMake's HGAD_DEVICE_SOURCES)
// `node scripts/native_sources.js addon` prints one path per line, relative
// to the repository root with '/' separators, sorted; binding.gyp expands it
// with <!@(...). test/native_sources.test.ts checks it against CMakeLists.txt.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

const GROUPS = {
  addon: [['native/napi', '.cc'], ['native/cpu', '.cc']],
  device: [['native/device', '.cc']],
};

// Non-recursive `dir/*ext`, as CMake's file(GLOB) does.
function glob(dir, ext) {
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => `${dir}/${e.name}`);
}

function sources(group) {
  const rules = GROUPS[group];
  if (!rules) {
    throw new Error(`Expected a source group (${Object.keys(GROUPS).join(', ')}) but received ${JSON.stringify(group)}`);
  }
  return rules.flatMap(([dir, ext]) => glob(dir, ext)).sort();
}

module.exports = { sources, GROUPS };

if (require.main === module) {
  try {
    const list = sources(process.argv[2]);
    if (list.length === 0) throw new Error(`Expected source files for ${process.argv[2]} but received none`);
    process.stdout.write(list.join('\n') + '\n');
  } catch (e) {
    console.error(`hgad: ${e.message}`);
    process.exit(1);
  }
}
