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
# protobufjs comes twice: 7.x (gRPC: @grpc/proto-loader and the inference codec, loaded from src/)
# and onnx-proto's 6.x (the optimisation pass, loaded as protobufjs/minimal). Neither loads its CLI
# (6.x: 20 MB, with its own dependencies) or its browser bundles.
for pb in node_modules/protobufjs node_modules/*/node_modules/protobufjs; do
  rm -rf "$pb/cli" "$pb/dist"
done
# Type declarations (@types/* come in through protobufjs), source maps and docs: never loaded.
rm -rf node_modules/@types
find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '*.md' -o -name '*.markdown' \) ! -iname 'license*' -delete
# What was pruned still loads.
node -e "require('onnxruntime-node'); require('protobufjs'); require('@grpc/proto-loader'); require('onnx-proto')"
