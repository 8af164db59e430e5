// The native CUDA parity binary (native/test/cuda_parity_test.cu) runs the
// case groups listed in native/test/parity_cases.gen.h, which is generated
// from the parity table (test/helpers/op_table.ts). These checks run without
// a GPU: the list is current, every op of the table has a native group, and
// that group really calls the op's CUDA kernel. (The binary itself only runs
// on a GPU: scripts/gpu-check.sh.)
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { NATIVE_PARITY_HEADER, nativeGroups, nativeParityHeader } from './helpers/native_parity';
import { OP_TABLE } from './helpers/op_table';

const root = path.join(__dirname, '..', '..');
const nativeTest = path.join(root, 'native', 'test');
const sources = fs.readdirSync(nativeTest).filter((f) => /\.(h|cu)$/.test(f)).map((f) => fs.readFileSync(path.join(nativeTest, f), 'utf8')).join('\n');

/** The body of `void name(...) {...}` in native/test, or null. */
function body(name: string): string | null {
  const start = sources.search(new RegExp(`\\nvoid ${name}\\(`));
  if (start < 0) return null;
  const end = sources.indexOf('\n}\n', start);
  return sources.slice(start, end < 0 ? undefined : end);
}

/** A case group's body with the bodies of the native/test helpers it calls (gemmCases -> allTransposes -> gemmCase), or null. */
function groupText(group: string): string | null {
  if (!sources.includes(`void ${group}(Tally& t, uint64_t& seed) {`)) return null;
  const seen = new Set<string>();
  const visit = (name: string): string => {
    if (seen.has(name)) return '';
    seen.add(name);
    const text = body(name) ?? '';
    return text + [...text.matchAll(/\b([a-zA-Z]\w*)\(/g)].map((m) => (m[1] !== name ? visit(m[1]) : '')).join('');
  };
  return visit(group);
}

test('the native parity list is generated from the current parity table', (t) => {
  const checkedIn = fs.readFileSync(path.join(root, NATIVE_PARITY_HEADER), 'utf8');
  t.is(checkedIn, nativeParityHeader(), `${NATIVE_PARITY_HEADER} is out of date with test/helpers/op_table.ts: run \`npm run gen:parity\``);
  const binary = fs.readFileSync(path.join(nativeTest, 'cuda_parity_test.cu'), 'utf8');
  t.true(binary.includes('#include "parity_cases.gen.h"'), 'the binary includes the generated list');
  t.regex(binary, /HGAD_PARITY_GROUPS\(HGAD_RUN_GROUP\)/, 'and runs its groups');
});

test('every op of the parity table has a native case group that calls its CUDA kernel', (t) => {
  for (const row of OP_TABLE) {
    const text = groupText(row.native);
    if (text === null) {
      t.fail(`${String(row.op)}: no case group ${row.native}(Tally& t, uint64_t& seed) in native/test`);
      continue;
    }
    t.true(text.includes(`cu::${String(row.op)}(`), `${String(row.op)}: ${row.native} does not call cu::${String(row.op)}`);
  }
  for (const group of nativeGroups()) t.not(groupText(group), null, `${group} is defined in native/test`);
});
