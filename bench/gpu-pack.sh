#!/bin/bash
# Packs what `npm run bench:gpu` needs on a lent GPU machine (no Node there) into .device/,
# small enough for the 64 MiB a device call carries with the working tree: the workplace's
# ../shared/tools/device-pack makes Node, the Vulkan loader and setup.sh; this replaces its
# node_modules archive with one that leaves out what the run never loads (ONNX Runtime, the
# type checker, linters, formatter, browser driver, protobufjs's own CLI). bench:gpu runs the
# CLI from the sources through tsx, so dist/ stays behind. Run from the project root after
# `npm ci`; then call the device tool with carry [".device"] and
#   source .device/setup.sh && node --import tsx bench/gpu.ts   (no npm there)
set -euo pipefail
[ -f package.json ] && [ -d node_modules ] || { echo "run from the project root after npm ci" >&2; exit 1; }
if [ ! -f .device/setup.sh ] || [ ! -f .device/node.xz ]; then
  [ -x ../shared/tools/device-pack ] || { echo "../shared/tools/device-pack not found: this packs for the workplace's device tool only" >&2; exit 1; }
  ../shared/tools/device-pack >/dev/null
fi
tar --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/.cache' \
    --exclude=node_modules/onnxruntime-node --exclude=node_modules/typescript \
    --exclude=node_modules/typescript-eslint --exclude='node_modules/eslint*' \
    --exclude='node_modules/@eslint*' --exclude=node_modules/@typescript-eslint \
    --exclude=node_modules/prettier --exclude=node_modules/playwright-core \
    --exclude=node_modules/@types --exclude=node_modules/protobufjs/cli \
    --exclude='node_modules/lightningcss*' \
    -cf - node_modules | xz -6 -T2 > .device/node_modules.tar.xz
device=$(du -sb .device | cut -f1)
# Files deleted from the work tree but still tracked do not travel: du skips them.
tree=$( (git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null || true) | tail -1 | cut -f1)
echo "carry .device: $((device / 1048576)) MiB, working tree $((tree / 1048576)) MiB, of the 64 MiB a call may carry"
[ $((device + tree)) -lt $((64 * 1048576)) ] || { echo "too large for one device call" >&2; exit 1; }
