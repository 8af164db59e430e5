// The reference implementations the benchmarks time beside hgad: OpenBLAS
// through NumPy (bench/openblas_gemm.py) and ONNX Runtime. Each either runs
// and says what it ran, or says why it cannot, rather than silently
// dropping its rows.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { avx2OnlyRuntime, findAvx512Checks } from '../bench/onnx_avx2';
import { OnnxScorer } from '../bench/onnx_compare';
import { OpenBlasTimer } from '../bench/openblas';

test('without its python the OpenBLAS timer gives the reason instead of rows', async (t) => {
  const r = await OpenBlasTimer.start(null, 1, '/nonexistent/python3');
  t.is(r, '/nonexistent/python3 not found');
});

test('without PyTorch there is no exported model, and ONNX Runtime says so', async (t) => {
  const r = await OnnxScorer.start(null, 1);
  t.is(typeof r, 'string');
  t.regex(r as string, /PyTorch is not available|onnxruntime-node is not installed/);
});

const python = process.env.HGAD_BENCH_PYTHON ?? '/usr/bin/python3';
test('the OpenBLAS timer reports the core it runs, and a forced Haswell core is the one that runs', async (t) => {
  if (!fs.existsSync(python)) {
    t.log(`${python} is absent: only the absent case above is checked on this machine`);
    t.pass();
    return;
  }
  const own = await OpenBlasTimer.start(null, 1, python);
  if (typeof own === 'string') {
    t.log(`OpenBLAS through NumPy cannot run here (${own}): only the absent cases are checked`);
    t.true(own.length > 0);
    return;
  }
  const haswell = await OpenBlasTimer.start('Haswell', 1, python);
  try {
    t.not(own.info.core, 'unknown');
    t.is(own.info.variant, 'auto');
    t.false(typeof haswell === 'string', String(haswell));
    if (typeof haswell === 'string') return;
    t.is(haswell.info.core, 'Haswell');
    for (const [tA, tB] of [[false, true], [true, false]] as const) {
      const s = await haswell.time(tA, tB, 70, 45, 33);
      t.true(Number.isFinite(s) && s > 0, `seconds ${s}`);
    }
  } finally {
    own.close();
    if (typeof haswell !== 'string') haswell.close();
  }
});

test('the AVX-512F check is found by its bytes: the CPUID bit test, its jump, then the XCR0 state test', (t) => {
  const rng = () => Math.floor(Math.random() * 256);
  const noise = (n: number) => Array.from({ length: n }, () => {
    const b = rng();
    return b === 0xf7 ? 0x90 : b; // no stray test opcodes
  });
  const rex = [0x41, 0xf7, 0xc2, 0x00, 0x00, 0x01, 0x00, 0x74, 0x0e, 0x4c, 0x89, 0xc0, 0x48, 0xf7, 0xd0, 0xa8, 0xe0];
  const plain = [0xf7, 0xc1, 0x00, 0x00, 0x01, 0x00, 0x74, 0x20, 0x89, 0xc8, 0xa9, 0xe0, 0x00, 0x00, 0x00];
  const pre = noise(37);
  const mid = noise(23);
  const lib = Uint8Array.from([...pre, ...rex, ...mid, ...plain, ...noise(11)]);
  t.deepEqual(findAvx512Checks(lib), [pre.length + 7, pre.length + rex.length + mid.length + 6]);
  // the same bit test without the AVX-512 state test after it is some other check
  const other = Uint8Array.from([...pre, 0xf7, 0xc1, 0x00, 0x00, 0x01, 0x00, 0x74, 0x20, ...Array(20).fill(0x90)]);
  t.deepEqual(findAvx512Checks(other), []);
});

test('the ONNX Runtime copy held to AVX2 differs from the installed library in that one jump only', (t) => {
  const rt = avx2OnlyRuntime();
  if (typeof rt === 'string') {
    // onnxruntime-node is a dependency: on Linux x64 its build must be patchable
    t.false(process.platform === 'linux' && process.arch === 'x64', rt);
    t.log(`no AVX2-held ONNX Runtime here: ${rt}`);
    return;
  }
  try {
    const original = fs.readFileSync(require.resolve(`onnxruntime-node/${path.relative(rt.module, rt.library)}`));
    const patched = fs.readFileSync(rt.library);
    t.is(patched.length, original.length);
    const differ: number[] = [];
    for (let i = 0; i < original.length; ++i) if (original[i] !== patched[i]) differ.push(i);
    t.deepEqual(differ, [rt.offset]);
    t.is(original[rt.offset], 0x74);
    t.is(patched[rt.offset], 0xeb);
  } finally {
    rt.dispose();
  }
  t.false(fs.existsSync(rt.module));
});
