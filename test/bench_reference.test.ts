// The reference implementations the benchmarks time beside hgad: OpenBLAS
// through NumPy (bench/openblas_gemm.py) and ONNX Runtime. Each either runs
// and says what it ran, or says why it cannot, rather than silently
// dropping its rows.
import test from 'ava';
import * as fs from 'fs';
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
