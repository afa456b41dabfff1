#!/bin/sh
# Fails the image build when `npm ci` exited 0 without installing what package-lock.json lists —
# npm 10 behind a TLS-intercepting proxy can print "Exit handler never called!" and exit 0 with an
# empty node_modules. `npm ls` reads only the disk (no network). Arguments go to `npm ls` (--omit=dev).
set -eu
if ! npm ls --all "$@" >/dev/null; then
  echo "verify-install: node_modules does not hold what package-lock.json lists (see npm ls above): npm ci did not really install" >&2
  exit 1
fi
# And the one package nothing works without, checked without npm.
if [ ! -f node_modules/onnxruntime-node/package.json ]; then
  echo "verify-install: node_modules/onnxruntime-node is missing: npm ci did not really install" >&2
  exit 1
fi
