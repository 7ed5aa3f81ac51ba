#!/usr/bin/env bash
# The Spark and Python read benchmark (not part of the test suite): release
# builds of apiconn and apiconn-bench, the Python package installed from
# ./python with pip as a user would (a release wheel) into target/bench-python
# with the pins of tests/python/python.txt, then bench/spark_read.py.
# Extra arguments go to bench/spark_read.py (e.g. --pages 20 --cores 2).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
cargo build --release --locked -p apiconn -p apiconn-bench
target="${CARGO_TARGET_DIR:-target}"
venv="$target/bench-python"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/python.txt
"$venv/bin/pip" install --quiet --disable-pip-version-check ./python
export PYSPARK_PYTHON="$venv/bin/python"
"$venv/bin/python" bench/spark_read.py \
  --apiconn "$target/release/apiconn" --bench "$target/release/apiconn-bench" \
  --out bench/SPARK.md "$@"
