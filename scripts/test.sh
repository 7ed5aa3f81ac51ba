#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs first
# (the wasm target, the npm peers pinned by tests/package-lock.json), then
# runs every unit and end-to-end test against real servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
npm ci --prefix tests --no-audit --no-fund --loglevel=error
cargo test --workspace --locked "$@"
