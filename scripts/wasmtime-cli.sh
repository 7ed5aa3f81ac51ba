#!/usr/bin/env bash
# Opt-in: builds the stock wasmtime CLI (crate wasmtime-cli 48.0.8, many
# minutes on 2 cores, so not part of scripts/test.sh) and runs the
# same-output test with it as a third host.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x target/tools/bin/wasmtime ]; then
  cargo install wasmtime-cli@48.0.8 --locked --root target/tools
fi
npm ci --prefix tests --no-audit --no-fund --loglevel=error
APICONN_WASMTIME="$PWD/target/tools/bin/wasmtime" cargo test -p apiconn-tests --test hosts -- --nocapture
