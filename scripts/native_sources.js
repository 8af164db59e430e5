#!/usr/bin/env node
// The native source lists of the node-gyp build, computed with the glob rules
// of CMakeLists.txt so that the two builds cannot drift apart:
//   addon   the N-API addon, CPU only: native/napi/*.cc, native/cpu/*.cc
//           (CMake's HGAD_NAPI_SOURCES and HGAD_CPU_SOURCES without CUDA,
//           device_none.cc included; native/ops holds headers only)
//   device  the device bookkeeping: native/device/*.cc (CMake's HGAD_DEVICE_SOURCES)
// `node scripts/native_sources.js addon` prints one path per line, relative
// to the repository root with '/' separators, sorted. binding.gyp lists the
// same files by name (so a reader, and any tool, sees every source):
// `node scripts/native_sources.js --write-gyp` (npm run gen:gyp) rewrites its
// two source lists from these rules, and test/native_sources.test.ts fails
// while binding.gyp and CMakeLists.txt disagree.
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

// binding.gyp's targets and the groups their sources come from (the test
// program adds its own main file).
const GYP_TARGETS = { hgad: ['addon', []], device_lifetimes_test: ['device', ['native/test/device_lifetimes_test.cc']] };

/** Rewrites the source lists of binding.gyp (written atomically). */
function writeGyp() {
  const file = path.join(root, 'binding.gyp');
  const gyp = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const t of gyp.targets) {
    const spec = GYP_TARGETS[t.target_name];
    if (!spec) throw new Error(`Expected a target of ${Object.keys(GYP_TARGETS).join(', ')} in binding.gyp but received ${t.target_name}`);
    t.sources = [...sources(spec[0]), ...spec[1]];
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(gyp, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

module.exports = { sources, GROUPS };

if (require.main === module) {
  try {
    if (process.argv[2] === '--write-gyp') {
      writeGyp();
      process.exit(0);
    }
    const list = sources(process.argv[2]);
    if (list.length === 0) throw new Error(`Expected source files for ${process.argv[2]} but received none`);
    process.stdout.write(list.join('\n') + '\n');
  } catch (e) {
    console.error(`hgad: ${e.message}`);
    process.exit(1);
  }
}
