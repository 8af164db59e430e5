#!/usr/bin/env bash
# Builds the node-gyp variant of the addon (HGAD_BUILD=node-gyp, binding.gyp)
# in a scratch copy of the repository and trains and scores a small model with
# THAT addon, so that a gyp build that compiles but cannot run (a source
# missing from its list: "undefined symbol" on first use) fails here.
# Needs node_modules and dist (npm install); leaves nothing behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
for need in node_modules dist/lib/cli/main.js; do
  [[ -e "$need" ]] || { echo "smoke_gyp: expected $need (run npm install first) but it is missing" >&2; exit 1; }
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/hgad-smoke-gyp.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# The tracked (and new, not ignored) files, plus the compiled TypeScript;
# node_modules is shared through a link, never modified (a checkout whose
# node_modules is itself an unignored link lists it: it is skipped).
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  case "$f" in node_modules | node_modules/* | build/* | dist/*) continue ;; esac
  [[ -e "$f" ]] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$scratch"
cp -R dist "$scratch/dist"
if [[ -e "$scratch/node_modules" || -L "$scratch/node_modules" ]]; then
  echo "smoke_gyp: expected no node_modules in the scratch copy but one was copied" >&2
  exit 1
fi
ln -s "$root/node_modules" "$scratch/node_modules"

echo "smoke_gyp: building with node-gyp in $scratch"
(cd "$scratch" && HGAD_BUILD=node-gyp node scripts/build.js > "$scratch/build.log" 2>&1) || {
  tail -40 "$scratch/build.log" >&2
  echo "smoke_gyp: the node-gyp build failed" >&2
  exit 1
}
[[ -f "$scratch/build/Release/hgad.node" ]] || { echo "smoke_gyp: expected build/Release/hgad.node from node-gyp but it is missing" >&2; exit 1; }
[[ -f "$scratch/build/Release/device_lifetimes_test" ]] || [[ -f "$scratch/build/Release/device_lifetimes_test.exe" ]] || {
  echo "smoke_gyp: expected build/Release/device_lifetimes_test from node-gyp but it is missing" >&2; exit 1; }

# Resolve every symbol at load time: an undefined one fails the first call
# instead of the first use of the function that needs it.
export LD_BIND_NOW=1
work="$scratch/smoke"
mkdir "$work"
node "$scratch/scripts/smoke_gyp_data.js" "$scratch" "$work"
hgad="$scratch/dist/lib/cli/main.js"
node "$hgad" devices --json > "$work/devices.json"
node "$hgad" train --features "$work/train.npy" --labels "$work/train_labels.npy" --epochs 6 --batch-size 64 \
  --couplings 4 --intra-centres 3 --stage1-epochs 2 --quiet --out "$work/model.safetensors"
node "$hgad" score --model "$work/model.safetensors" --features "$work/test.npy" --labels "$work/test_labels.npy" \
  --out "$work/scores.npy"
node "$scratch/scripts/smoke_gyp_data.js" "$scratch" "$work" --check
echo "smoke_gyp: ok"
