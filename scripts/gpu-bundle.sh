#!/usr/bin/env bash
# Packs what the Node-level steps of scripts/gpu-check.sh need on a GPU
# machine that has no Node.js and no package registry: this machine's node
# binary, the compiled JavaScript (dist/), the addon built with CUDA
# (build/Release/hgad.node) and the runtime node_modules (the compiler and
# type packages left out), into gpu-carry/bundle.tar.xz (well under 64 MiB).
# gpu-check.sh unpacks it. Run after `npm install` (which builds with CUDA
# when nvcc is found).
#   usage: scripts/gpu-bundle.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NODE_BIN="$(command -v node)"
[ -f build/Release/hgad.node ] || { echo "gpu-bundle: build/Release/hgad.node is missing; run npm install first" >&2; exit 1; }
[ -f dist/test/ops.cuda.test.js ] || { echo "gpu-bundle: dist/ is missing; run npm run build:ts first" >&2; exit 1; }
node -e "if(!require('./dist/lib/internal').native.buildInfo().cudaCompiled){console.error('gpu-bundle: the addon was built without CUDA');process.exit(1)}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/gpu-carry" "$STAGE/build/Release" gpu-carry
cp "$NODE_BIN" "$STAGE/gpu-carry/node"
cp -r dist "$STAGE/dist"
cp build/Release/hgad.node "$STAGE/build/Release/"
mkdir -p "$STAGE/node_modules"
for m in node_modules/* node_modules/.bin; do
  case "$(basename "$m")" in typescript|@types|cmake-js|node-gyp|node-addon-api|node-api-headers) continue ;; esac
  cp -r "$m" "$STAGE/node_modules/"
done
tar -C "$STAGE" -cJf gpu-carry/bundle.tar.xz gpu-carry/node dist build/Release/hgad.node node_modules
ls -l gpu-carry/bundle.tar.xz
echo "carry: [\"gpu-carry\"]; on the device: bash scripts/gpu-check.sh"
