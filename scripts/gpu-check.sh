#!/usr/bin/env bash
# The device check for a lent GPU machine (H200, CUDA 13, CMake, ninja,
# Python with PyTorch; no Node.js and no package registry there), in one call
# of at most ~8 minutes:
#   1. CMake build of hgad_core and the native tests; CTest (the CUDA parity
#      test checks every kernel against the CPU reference), then its timing.
#   2. When the Node bundle of scripts/gpu-bundle.sh was carried along
#      (gpu-carry/bundle.tar.xz: node, the compiled JavaScript, the runtime
#      node_modules and the addon built with CUDA): the Node-level CUDA parity
#      tests, the golden cases and the training/scoring path on the GPU
#      (HGAD_TEST_DEVICE=cuda), then `bench --device cuda` in FP32 and TF32
#      and the side-by-side PyTorch comparison in both precisions.
# Logs, JSON records and summary.json go under $OUT when set, else
# ./gpu-check-out. Steps share a deadline (HGAD_GPU_CHECK_BUDGET seconds,
# default 460) so the whole run ends in time; a step cut short says so.
#   usage: scripts/gpu-check.sh            (from the repository root)
#          scripts/gpu-check.sh --smoke    (a first call of seconds: the
#          environment, the devices Node sees and one GEMM on the GPU against
#          the CPU; no build)
# Env: HGAD_SEED fixes the random inputs; BUILD_DIR overrides build-gpu;
#      HGAD_NODE names a node binary when neither PATH nor the bundle has one.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="${OUT:-$ROOT/gpu-check-out}"
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"
mkdir -p "$OUTDIR"
START=$(date +%s)
DEADLINE=$(( START + ${HGAD_GPU_CHECK_BUDGET:-460} ))
declare -A STATUS
ORDER=()

step() {  # step NAME TIMEOUT_S COMMAND...: runs with a timeout (capped by the deadline), logs to $OUTDIR/NAME.log
  local name=$1 limit=$2
  shift 2
  ORDER+=("$name")
  local left=$(( DEADLINE - $(date +%s) ))
  if [ "$left" -lt 15 ]; then
    STATUS[$name]="not run (time budget spent)"
    echo "=== $name: not run, the time budget is spent"
    return 124
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit ${limit}s): $*"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.log"
  local rc=${PIPESTATUS[0]}
  STATUS[$name]="rc=$rc $(( $(date +%s) - t0 ))s$([ "$rc" -eq 124 ] && echo ' (timed out)')"
  echo "=== $name: rc=$rc"
  return "$rc"
}

# ------------------------------------------------------------ environment
if [ -f "$ROOT/gpu-carry/bundle.tar.xz" ]; then
  echo "=== unpacking gpu-carry/bundle.tar.xz"
  tar -C "$ROOT" -xJf "$ROOT/gpu-carry/bundle.tar.xz" && chmod +x "$ROOT/gpu-carry/node" 2>/dev/null
fi
NODE_BIN="${HGAD_NODE:-$(command -v node || true)}"
[ -z "$NODE_BIN" ] && [ -x "$ROOT/gpu-carry/node" ] && NODE_BIN="$ROOT/gpu-carry/node"
# cuBLAS: the system's when the loader finds one, else the copy PyTorch ships
# (hgad loads it at run time; HGAD_CUBLAS_PATH names the file).
if [ -z "${HGAD_CUBLAS_PATH:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
  CUBLAS_FOUND=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
try:
    import torch
    roots.append(os.path.join(os.path.dirname(torch.__file__), 'lib'))
except Exception:
    pass
for r in roots:
    for pat in ('nvidia/cublas/lib/libcublas.so.*', 'libcublas.so.*'):
        hits = sorted(glob.glob(os.path.join(r, pat)))
        if hits:
            print(hits[0]); raise SystemExit
PY
)
  [ -n "$CUBLAS_FOUND" ] && export HGAD_CUBLAS_PATH="$CUBLAS_FOUND"
fi

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2 || true
  cmake --version | head -1
  python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" 2>&1 || true
  ldconfig -p 2>/dev/null | grep -E "libcublas\.so" | head -3 || true
  echo "node: ${NODE_BIN:-none} $([ -n "$NODE_BIN" ] && "$NODE_BIN" --version 2>&1)"
  echo "HGAD_CUBLAS_PATH: ${HGAD_CUBLAS_PATH:-unset (system search)}"
} | tee "$OUTDIR/environment.log"

if [ "${1:-}" = "--smoke" ]; then
  if [ -z "$NODE_BIN" ] || [ ! -f "$ROOT/build/Release/hgad.node" ]; then
    echo "smoke: no node or no build/Release/hgad.node (carry gpu-carry from scripts/gpu-bundle.sh)"; exit 1
  fi
  cd "$ROOT"
  timeout 60 "$NODE_BIN" -e "
    const h = require('./dist/lib/internal');
    const d = h.devices();
    console.log(JSON.stringify({ cudaCompiled: d.cudaCompiled, cudaArchs: d.cudaArchs, devices: d.devices, reason: d.reason }));
    const be = h.selectBackend('cuda');
    const M = 300, K = 77, N = 129;
    const r = new h.Random(1);
    const a = Float32Array.from({ length: M * K }, () => r.normal());
    const w = Float32Array.from({ length: N * K }, () => r.normal());
    const ref = h.Tensor.from(a, [M, K]);
    const out = (x, y) => { const o = h.Tensor.empty([M, N], 'float32', x.backend); x.backend.gemm(false, true, M, N, K, x.storage, K, y.storage, K, 0, o.storage, N, null, false); return o.toHost(); };
    const cpuOut = out(ref, h.Tensor.from(w, [N, K]));
    const gpuOut = out(h.Tensor.from(a, [M, K], 'float32', false, be), h.Tensor.from(w, [N, K], 'float32', false, be));
    let worst = 0; for (let i = 0; i < cpuOut.length; ++i) worst = Math.max(worst, Math.abs(cpuOut[i] - gpuOut[i]));
    console.log('smoke gemm ' + M + 'x' + N + 'x' + K + ' on ' + be.label + ': max |gpu - cpu| = ' + worst + ', cuBLAS ' + h.cudaBackend().cudaCublasAvailable());
    process.exit(worst < 1e-3 ? 0 : 1);
  " 2>&1 | tee "$OUTDIR/smoke.log"
  exit "${PIPESTATUS[0]}"
fi

# ------------------------------------------------------- native (CMake)
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
step configure 120 cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DHGAD_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release
CONFIGURE_RC=$?
BUILD_RC=1
if [ "$CONFIGURE_RC" -eq 0 ]; then
  step build 240 cmake --build "$BUILD" -j "$(nproc)"
  BUILD_RC=$?
fi

CTEST_RC=skipped
TIMING_RC=skipped
if [ "$BUILD_RC" -eq 0 ]; then
  # Register and spill report of the kernels, for the record (cheap).
  (cd "$BUILD" && find . -name '*.cu.o' -path '*native/cuda*' | head -20 | while read -r o; do
     cuobjdump --dump-resource-usage "$o" 2>/dev/null | grep -E "Function|REG|STACK" ; done) \
     > "$OUTDIR/resource-usage.log" 2>&1 || true
  pushd "$BUILD" >/dev/null
  step ctest 150 ctest --output-on-failure --timeout 140
  CTEST_RC=$?
  popd >/dev/null
  cp "$BUILD/Testing/Temporary/LastTest.log" "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true
  HGAD_GPU_JSON="$OUTDIR/timing.json" step timing 60 "$BUILD/cuda_parity_test" --timing-only
  TIMING_RC=$?
fi

# ------------------------------------------------------- Node level
NODE_RC=skipped
BENCH_RC=skipped
BENCH_TF32_RC=skipped
COMPARE_RC=skipped
COMPARE_TF32_RC=skipped
if [ -n "$NODE_BIN" ] && [ -f "$ROOT/dist/test/ops.cuda.test.js" ] && [ -f "$ROOT/build/Release/hgad.node" ] && [ -d "$ROOT/node_modules/ava" ]; then
  cd "$ROOT"
  "$NODE_BIN" -e "const h=require('./dist/lib/internal');const d=h.devices();console.log(JSON.stringify({build:h.native.buildInfo(),devices:d.devices,reason:d.reason,cublas:d.devices.length?h.cudaBackend().cudaCublasAvailable():null}))" \
    > "$OUTDIR/node-devices.json" 2>&1 || true
  HGAD_TEST_DEVICE=cuda step node-parity 150 "$NODE_BIN" node_modules/ava/entrypoints/cli.mjs --verbose --timeout=120s \
    dist/test/ops.cuda.test.js dist/test/golden.test.js dist/test/backend.test.js
  NODE_RC=$?
  step bench-fp32 110 "$NODE_BIN" dist/bench/run.js --device cuda --precision fp32 --json "$OUTDIR/bench-fp32.json"
  BENCH_RC=$?
  step bench-tf32 70 "$NODE_BIN" dist/bench/run.js --device cuda --precision tf32 --only gemm,flow_forward_paper,score_paper,train_step_paper,tf32_error \
    --json "$OUTDIR/bench-tf32.json"
  BENCH_TF32_RC=$?
  step compare-fp32 90 "$NODE_BIN" dist/bench/compare.js --device cuda --precision fp32 --runs 5 --warmup 1 --no-check --json "$OUTDIR/compare-fp32.json"
  COMPARE_RC=$?
  step compare-tf32 70 "$NODE_BIN" dist/bench/compare.js --device cuda --precision tf32 --runs 5 --warmup 1 --no-check --json "$OUTDIR/compare-tf32.json"
  COMPARE_TF32_RC=$?
else
  echo "=== Node-level steps not run: no node binary, dist/, build/Release/hgad.node or node_modules/ava (run scripts/gpu-bundle.sh and carry gpu-carry)"
fi

PASSED=$(grep -c '^PASS' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
FAILED=$(grep -c '^FAIL' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
SKIPPED_LINE=$(grep -m1 '^SKIPPED' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
NODE_SUMMARY=$(grep -E '^\s*[0-9]+ tests? (passed|failed)|[0-9]+ tests? failed' "$OUTDIR/node-parity.log" 2>/dev/null | tr -s ' ' | paste -sd ';' - || true)
TOTAL=$(( $(date +%s) - START ))
cat > "$OUTDIR/summary.json" <<JSON
{
  "configure_rc": $CONFIGURE_RC,
  "build_rc": $BUILD_RC,
  "ctest_rc": "$CTEST_RC",
  "timing_rc": "$TIMING_RC",
  "node_parity_rc": "$NODE_RC",
  "node_parity": "$(echo "$NODE_SUMMARY" | sed 's/"/\\"/g')",
  "bench_fp32_rc": "$BENCH_RC",
  "bench_tf32_rc": "$BENCH_TF32_RC",
  "compare_fp32_rc": "$COMPARE_RC",
  "compare_tf32_rc": "$COMPARE_TF32_RC",
  "parity_pass_lines": ${PASSED:-0},
  "parity_fail_lines": ${FAILED:-0},
  "skipped": "$(echo "$SKIPPED_LINE" | sed 's/"/\\"/g')",
  "seconds": $TOTAL,
  "records": ["timing.json", "bench-fp32.json", "bench-tf32.json", "compare-fp32.json", "compare-tf32.json"]
}
JSON

echo
echo "================ gpu-check summary ================"
for k in "${ORDER[@]}"; do printf '  %-13s %s\n' "$k" "${STATUS[$k]:-not run}"; done
echo "  parity lines: ${PASSED:-0} PASS, ${FAILED:-0} FAIL ${SKIPPED_LINE:+($SKIPPED_LINE)}"
grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUTDIR/ctest-LastTest.log" 2>/dev/null | sed 's/^/  parity test: /'
grep '^FAIL' "$OUTDIR/ctest-LastTest.log" 2>/dev/null | head -20 | sed 's/^/  /'
grep '^TIME' "$OUTDIR/timing.log" 2>/dev/null | sed 's/^/  /'
[ -n "$NODE_SUMMARY" ] && echo "  node parity: $NODE_SUMMARY"
for f in bench-fp32 bench-tf32 compare-fp32 compare-tf32; do
  [ -f "$OUTDIR/$f.log" ] && { echo "  --- $f"; grep -E '^(scenario|[a-z_0-9]+ +N=|[a-z_0-9]+ +[0-9]+ |gemm|copy|kernel|TF32)' "$OUTDIR/$f.log" | head -30 | sed 's/^/  /'; }
done
echo "  logs and JSON in $OUTDIR ($TOTAL s)"
if [ "$CONFIGURE_RC" -eq 0 ] && [ "$BUILD_RC" -eq 0 ] && [ "$CTEST_RC" = 0 ] && [ "$TIMING_RC" = 0 ] && [ "$NODE_RC" != skipped ] && [ "$NODE_RC" = 0 ]; then
  echo "  RESULT: OK"; exit 0
fi
echo "  RESULT: FAILED"; exit 1
