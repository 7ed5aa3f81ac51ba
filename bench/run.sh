#!/usr/bin/env bash
# The benchmark suite, on a fresh machine: builds apiconn and the driver
# (release), installs dlt (pinned, tests/python/dlt.txt), measures every
# figure against one local server and writes bench/RESULTS.md.
# Extra arguments go to `apiconn-bench suite` (e.g. --density 10,100 --no-profile).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
scripts/venvs.sh dlt
# `precompile`: the component compiled at build time and embedded (cold start).
cargo build --release --locked -p apiconn -p apiconn-bench --features apiconn/precompile
target="${CARGO_TARGET_DIR:-target}/release"
"$target/apiconn-bench" suite \
  --apiconn "$target/apiconn" \
  --python tests/.venv/dlt/bin/python \
  --out bench/RESULTS.md "$@"
