// Parity of every op of the Backend on every available backend against the
// CPU backend in float64: the CPU in float32, the CUDA backend over the
// emulated surface (its TypeScript path, the bindings' argument order and
// sizes, stream ordering), and the real CUDA backend when a GPU is present.
// Outputs start as NaN, so an element an op fails to write fails the check.
// The rows are in test/helpers/op_table.ts.
import test from 'ava';
import { cpu } from '../lib/backend/cpu';
import { selectBackend } from '../lib/backend/index';
import { Backend, IntStorage, Storage } from '../lib/backend/types';
import { devices } from '../lib/backend/devices';
import type { DType } from '../lib/tensor';
import { emulatedBackend } from './helpers/device';
import { assertClose, seeded } from './helpers/numeric';
import { OP_TABLE, OpCase } from './helpers/op_table';

// The Backend's methods that are not ops (memory, transfers, ordering).
const NOT_OPS = new Set(['constructor', 'alloc', 'allocInt', 'fromHost', 'intFromHost', 'write', 'toHost', 'readInto', 'readScalar', 'release',
  'arena', 'persistent', 'synchronize', 'firstNonFinite', 'stage', 'stageInt', 'afterStaged', 'markComputed', 'readback', 'trim', 'recycle',
  'dispose', 'track', 'newArray', 'buf', 'opt']);

function runCase(be: Backend, dtype: DType, c: OpCase): Record<string, Float64Array> {
  const { result, arena } = be.arena(() => {
    const s: Record<string, Storage | IntStorage> = {};
    for (const [k, v] of Object.entries(c.floats)) s[k] = be.fromHost(dtype === 'float32' ? Float32Array.from(v) : v, dtype);
    for (const [k, v] of Object.entries(c.ints ?? {})) s[k] = be.intFromHost(v);
    for (const [k, n] of Object.entries(c.outs ?? {})) s[k] = be.alloc(n, dtype, NaN);
    const returned = c.run(be, s as Record<string, Storage & IntStorage>);
    const got: Record<string, Float64Array> = {};
    for (const name of c.check) got[name] = name === 'result' ? Float64Array.from(returned!) : Float64Array.from(be.toHost(s[name] as Storage));
    return got;
  });
  arena.dispose();
  return result;
}

/** The same case with its float inputs rounded to float32, so that the reference sees what the float32 backends see. */
function rounded(c: OpCase): OpCase {
  const floats: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(c.floats)) floats[k] = Float64Array.from(Float32Array.from(v));
  return { ...c, floats };
}

const hasGpu = devices().devices.length > 0;
const backends: [string, () => Backend][] = [
  ['cpu float32', () => cpu],
  ['cuda (emulated)', () => emulatedBackend()],
  ...(hasGpu ? [['cuda', () => selectBackend('cuda')] as [string, () => Backend]] : []),
];

test('every op of the Backend has a parity row', (t) => {
  const ops = Object.getOwnPropertyNames(Object.getPrototypeOf(cpu)).filter((k) => !NOT_OPS.has(k));
  const rows = OP_TABLE.map((r) => r.op as string);
  t.deepEqual([...rows].sort(), [...ops].sort(), 'the rows of test/helpers/op_table.ts are the ops of the CPU backend');
  t.true(ops.length >= 23, `${ops.length} ops found`);
  if (!hasGpu) t.log('no GPU: the real CUDA backend did not run (the emulated surface stands in)');
});

for (const row of OP_TABLE) {
  test(`parity: ${row.op} on ${backends.map(([n]) => n).join(', ')} against the CPU in float64`, (t) => {
    const rng = seeded(t);
    for (const raw of row.cases(rng)) {
      const c = rounded(raw);
      const ref = runCase(cpu, 'float64', c);
      for (const [name, make] of backends) {
        const got = runCase(make(), 'float32', c);
        for (const out of c.check) assertClose(t, `${row.op} ${c.label} ${out} on ${name}`, got[out], ref[out], c.atol, c.rtol);
      }
    }
  });
}
