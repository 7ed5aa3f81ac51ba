#!/usr/bin/env bash
# One virtualenv per pinned requirements file tests/python/<name>.txt, at
# tests/.venv/<name>, rebuilt only when the file changes. With names as
# arguments, only those.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- $(basename -s .txt tests/python/*.txt)
fi
for name in "$@"; do
  req="tests/python/$name.txt"
  venv="tests/.venv/$name"
  stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$stamp"
  fi
done
