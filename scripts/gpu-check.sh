#!/usr/bin/env bash
# The device check for a lent GPU machine (H200, CUDA 13, CMake, ninja; no
# Node.js there). Builds hgad_core and the native tests with plain CMake (the
# .node addon only builds under cmake-js), runs CTest, then the CUDA parity
# test's timing section. Everything fits in ~8 minutes; logs and a JSON
# summary go under $OUT when set, else ./gpu-check-out.
#   usage: scripts/gpu-check.sh            (from the repository root)
# Env: HGAD_SEED fixes the random inputs; BUILD_DIR overrides build-gpu.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="${OUT:-$ROOT/gpu-check-out}"
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"
mkdir -p "$OUTDIR"
START=$(date +%s)
declare -A STATUS

step() {  # step NAME TIMEOUT_S COMMAND...: runs with a timeout, logs to $OUTDIR/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s): $*"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.log"
  local rc=${PIPESTATUS[0]}
  STATUS[$name]="rc=$rc $(( $(date +%s) - t0 ))s"
  echo "=== $name: rc=$rc"
  return "$rc"
}

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2 || true
  cmake --version | head -1
  python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" 2>&1 || true
  ldconfig -p 2>/dev/null | grep -E "libcublas\.so" | head -3 || true
} | tee "$OUTDIR/environment.log"

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
  step ctest 200 ctest --output-on-failure --timeout 180
  CTEST_RC=$?
  popd >/dev/null
  cp "$BUILD/Testing/Temporary/LastTest.log" "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true
  HGAD_GPU_JSON="$OUTDIR/timing.json" step timing 120 "$BUILD/cuda_parity_test" --timing-only
  TIMING_RC=$?
fi

# Node-level parity (lib/cuda.ts on the addon), when Node.js, the compiled
# JavaScript, node_modules and build/Release/hgad.node were carried along
# (HGAD_NODE names a node binary when none is on PATH).
NODE_RC=skipped
NODE_BIN="${HGAD_NODE:-$(command -v node || true)}"
if [ -n "$NODE_BIN" ] && [ -f "$ROOT/dist/test/ops.cuda.test.js" ] && [ -f "$ROOT/build/Release/hgad.node" ] && [ -d "$ROOT/node_modules/ava" ]; then
  (cd "$ROOT" && step node-parity 120 "$NODE_BIN" node_modules/ava/entrypoints/cli.mjs --verbose dist/test/ops.cuda.test.js dist/test/golden.test.js)
  NODE_RC=$?
fi

PASSED=$(grep -c '^PASS' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
FAILED=$(grep -c '^FAIL' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
SKIPPED_LINE=$(grep -m1 '^SKIPPED' "$OUTDIR/ctest-LastTest.log" 2>/dev/null || true)
TOTAL=$(( $(date +%s) - START ))
cat > "$OUTDIR/summary.json" <<JSON
{
  "configure_rc": $CONFIGURE_RC,
  "build_rc": $BUILD_RC,
  "ctest_rc": "$CTEST_RC",
  "timing_rc": "$TIMING_RC",
  "node_parity_rc": "$NODE_RC",
  "parity_pass_lines": ${PASSED:-0},
  "parity_fail_lines": ${FAILED:-0},
  "skipped": "$(echo "$SKIPPED_LINE" | sed 's/"/\\"/g')",
  "seconds": $TOTAL,
  "timing_json": "timing.json"
}
JSON

echo
echo "================ gpu-check summary ================"
for k in configure build ctest timing; do printf '  %-10s %s\n' "$k" "${STATUS[$k]:-not run}"; done
echo "  parity lines: ${PASSED:-0} PASS, ${FAILED:-0} FAIL ${SKIPPED_LINE:+($SKIPPED_LINE)}"
grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUTDIR/ctest-LastTest.log" 2>/dev/null | sed 's/^/  parity test: /'
grep '^FAIL' "$OUTDIR/ctest-LastTest.log" 2>/dev/null | head -20 | sed 's/^/  /'
grep '^TIME' "$OUTDIR/timing.log" 2>/dev/null | sed 's/^/  /'
echo "  logs and JSON in $OUTDIR ($TOTAL s)"
if [ "$CONFIGURE_RC" -eq 0 ] && [ "$BUILD_RC" -eq 0 ] && [ "$CTEST_RC" = 0 ] && [ "$TIMING_RC" = 0 ]; then
  echo "  RESULT: OK"; exit 0
fi
echo "  RESULT: FAILED"; exit 1
