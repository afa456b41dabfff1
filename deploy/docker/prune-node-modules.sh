#!/bin/sh
# Removes from a production node_modules what the server never loads (run in the image's `deps`
# stage; BENCHMARKS.md lists what remains and why). Then loads the packages that were pruned, so a
# prune that went too far fails the build instead of the container.
set -eu
arch="$(node -p process.arch)"
# onnxruntime-node ships prebuilt binaries for every platform (~290 MB); keep linux/<this arch>.
for dir in node_modules/onnxruntime-node/bin/napi-v*/*/*; do
  case "$dir" in
    */linux/"$arch") ;;
    *) rm -rf "$dir" ;;
  esac
done
find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d -empty -delete
# protobufjs (via onnx-proto, for the optimisation pass) is loaded as protobufjs/minimal: its CLI
# (20 MB, with its own dependencies) and browser bundles are not.
rm -rf node_modules/protobufjs/cli node_modules/protobufjs/dist
# Type declarations (@types/* come in through protobufjs), source maps and docs: never loaded.
rm -rf node_modules/@types
find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '*.md' -o -name '*.markdown' \) ! -iname 'license*' -delete
# What was pruned still loads.
node -e "require('onnxruntime-node'); require('protobufjs/minimal'); require('onnx-proto')"
