#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs first
# (the wasm target, the npm and PyPI peers pinned under tests/, cargo-fuzz),
# builds and tests the Python package (scripts/python.sh),
# then runs every unit and end-to-end test against real servers on
# 127.0.0.1, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
npm ci --prefix tests --no-audit --no-fund --loglevel=error

scripts/venvs.sh

cargo test --workspace --locked "$@"

# The Python package, its dlt resource and Spark data source (python/tests).
scripts/python.sh

# The fuzz targets, briefly, so they cannot rot (scripts/fuzz.sh 600 for long runs).
scripts/fuzz.sh
