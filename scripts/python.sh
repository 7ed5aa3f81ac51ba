#!/usr/bin/env bash
# The Python package (python/): builds it into its pinned virtualenv
# (tests/.venv/python, from tests/python/python.txt) with maturin, lints it
# (ruff) and runs its tests (pytest; "no tests collected" is a failure).
# Arguments go to pytest, e.g. `scripts/python.sh python/tests/test_api.py -k gil`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venvs.sh python
# json-server, for the examples' test (scripts/test.sh has installed it already).
[ -f tests/node_modules/json-server/lib/cli/bin.js ] ||
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
venv="$PWD/tests/.venv/python"
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
# The tests' component cache, shared with the Rust tests.
export APICONN_CACHE_DIR="$PWD/target/test-cache"
# Spark's executors and Python workers run this interpreter, which has apiconn.
export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
(cd python && maturin develop --quiet --locked)
ruff check python examples/python --config python/pyproject.toml
ruff format --check python examples/python --config python/pyproject.toml
if [ $# -eq 0 ]; then
  set -- python/tests
fi
status=0
python -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
