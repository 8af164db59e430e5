// Data-driven check against the reference implementation's golden vectors:
// every *.json.gz in HGAD_GOLDEN_DIR (default test/fixtures/golden). Each case
// file is recognised by its content; a file or field this suite does not check
// is reported by name and fails the run rather than passing silently.
import test, { ExecutionContext } from 'ava';
import * as path from 'path';
import { compare, goldenFiles, loadGolden } from './helpers/golden';
import { flowFromGolden, tensorOf } from './helpers/golden_flow';
import { positionalEncoding2d } from '../lib/nn/positional_encoding';
import { checkers, companionFields } from './helpers/golden_checks';
import { emulatedBackend, hostValues, testBackend, testDeviceName, withTestBackend } from './helpers/device';
import { Backend } from '../lib/backend/types';
import { otherCpuKernels, withCpuKernel } from './helpers/kernels';

const ATOL = 1e-5;
const RTOL = 1e-4;

function check(t: ExecutionContext, label: string, actual: ArrayLike<number>, ref: ArrayLike<number>, atol = ATOL, rtol = RTOL): void {
  const r = compare(actual, ref, atol, rtol);
  t.log(`${label}: worst |err| ${r.worstAbs.toExponential(2)}, ${(r.worstRatio * 100).toFixed(1)}% of tolerance${r.ok ? '' : '  <-- MISS'}`);
  t.true(r.ok, `${label}: |a-b| <= ${atol} + ${rtol}*|ref| violated at index ${r.worstIndex} (ratio ${r.worstRatio.toFixed(2)})`);
}

const files = goldenFiles();

test('the golden directory holds case files', (t) => {
  t.true(files.length > 0, `no *.json.gz files in ${process.env.HGAD_GOLDEN_DIR ?? 'test/fixtures/golden'}`);
});

// The cases run on the test backend (HGAD_TEST_DEVICE, default the CPU); on
// the CPU they also run through the CUDA backend's TypeScript path over the
// emulated CUDA surface, so that path meets the reference too.
const backends: [string, Backend][] = [[testDeviceName(), testBackend()]];
if (testDeviceName() === 'cpu') backends.push(['emulated', emulatedBackend()]);

// On the CPU they run once more on every other GEMM kernel this CPU supports
// (an AVX-512 machine checks its AVX2 and portable kernels too); the kernel
// is process-wide, so these run serially.
const kernels = testDeviceName() === 'cpu' ? otherCpuKernels() : [];

for (const file of files) {
  const name = path.basename(file, '.json.gz');
  for (const [device, be] of backends) {
    test(`golden ${name}${device === 'cpu' ? '' : ` on ${device}`}`, (t) => withTestBackend(be, () => runCase(t, file, name)));
  }
  for (const kernel of kernels) {
    test.serial(`golden ${name} on the ${kernel} GEMM kernel`, (t) => withCpuKernel(kernel, () => withTestBackend(testBackend(), () => runCase(t, file, name))));
  }
}

function runCase(t: ExecutionContext, file: string, name: string): void {
  {
    const g = loadGolden(file);
    let understood = false;
    if (g.params?.flow) {
      understood = true;
      const flow = flowFromGolden(g, 'float32');
      const x = tensorOf(g.inputs.x, 'float32');
      const cond = g.config.cond_dim > 0 ? tensorOf(g.inputs.cond, 'float32') : null;
      const { z, logdet } = flow.forward(x, cond);
      check(t, `${name} z`, hostValues(z), g.outputs.z.data);
      check(t, `${name} logdet`, hostValues(logdet), g.outputs.logdet.data);
      let h = x;
      flow.blocks.forEach((block, i) => {
        const [out, ld] = block.forward(h, cond, null);
        check(t, `${name} block ${i} out`, hostValues(out), g.outputs.blocks[i].out.data);
        check(t, `${name} block ${i} logdet`, hostValues(ld), g.outputs.blocks[i].logdet.data);
        h = out;
      });
      const inv = flow.inverse(z, cond);
      check(t, `${name} inverse x`, hostValues(inv.x), g.inputs.x.data, 1e-4, 0);
    }
    if (g.positional_encoding) {
      understood = true;
      const pe = g.positional_encoding;
      check(t, `${name} positional_encoding`, positionalEncoding2d(pe.dim, pe.height, pe.width), pe.out.data);
    }
    for (const [key, checker] of Object.entries(checkers)) {
      if (key in g || (g.outputs && key in g.outputs)) {
        understood = true;
        checker(t, g, name, check);
      }
    }
    const unchecked = uncheckedFields(g);
    if (unchecked.length > 0) t.log(`${name}: NOT CHECKED: ${unchecked.join(', ')}`);
    t.true(understood, `${name}: no check in this suite understands this case file`);
    t.deepEqual(unchecked, [], `${name}: fields without a check`);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function uncheckedFields(g: any): string[] {
  const companions = Object.entries(companionFields).flatMap(([key, fields]) => (key in g ? fields : []));
  const known = new Set(['meta', 'config', 'params', 'inputs', 'positional_encoding', ...Object.keys(checkers), ...companions]);
  const out: string[] = Object.keys(g).filter((k) => !known.has(k) && k !== 'outputs');
  if (g.outputs) {
    const knownOut = new Set(['z', 'logdet', 'blocks', 'inverse_max_abs_err', ...Object.keys(checkers)]);
    for (const k of Object.keys(g.outputs)) if (!knownOut.has(k)) out.push(`outputs.${k}`);
  }
  return out;
}
