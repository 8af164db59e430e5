#!/usr/bin/env node
// Writes native/test/parity_cases.gen.h, the list of cases of the native CUDA
// parity binary, from the parity table (test/helpers/op_table.ts, compiled to
// dist by `npm run build:ts`). Run it after adding a row to the table:
//   npm run gen:parity
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const compiled = path.join(root, 'dist', 'test', 'helpers', 'native_parity.js');
if (!fs.existsSync(compiled)) {
  console.error(`gen_parity_cases: ${path.relative(root, compiled)} not found; run \`npm run build:ts\` first`);
  process.exit(1);
}
const { NATIVE_PARITY_HEADER, nativeParityHeader } = require(compiled);
const target = path.join(root, NATIVE_PARITY_HEADER);
// Written beside the target and renamed over it: never a half-written header.
const tmp = `${target}.${process.pid}.tmp`;
fs.writeFileSync(tmp, nativeParityHeader());
fs.renameSync(tmp, target);
console.log(`wrote ${NATIVE_PARITY_HEADER}`);
