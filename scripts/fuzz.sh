#!/usr/bin/env bash
# Runs the libFuzzer targets of guest/fuzz (cargo fuzz, on the nightly
# toolchain). `scripts/fuzz.sh` runs each briefly (a fixed number of runs, so
# the targets cannot rot; scripts/test.sh calls it); `scripts/fuzz.sh 600`
# runs each for 600 seconds. New inputs go to a temporary corpus; the seeds
# in guest/fuzz/corpus stay as committed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-}"
if ! rustup toolchain list | grep -q '^nightly'; then
  # cargo fuzz needs nightly, and a toolchain cannot be fetched here: say so
  # loudly; a long run (an explicit request) fails instead.
  echo "fuzz: WARNING: no nightly toolchain on this machine; the fuzz targets were NOT run" >&2
  [ -z "$seconds" ] && exit 0
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in config jsonpath flatten stop sign transcode flat; do
  mkdir -p "$work/$target"
  if [ -n "$seconds" ]; then
    limit="-max_total_time=$seconds"
  else
    limit="-runs=20000"
  fi
  echo "fuzz: $target ($limit)" >&2
  status=0
  cargo +nightly fuzz run --fuzz-dir guest/fuzz "$target" "$work/$target" "guest/fuzz/corpus/$target" \
    -- "$limit" -max_len=4096 >"$work/$target.log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|Done |==[0-9]+==ERROR|SUMMARY|thread .* panicked)" "$work/$target.log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$work/$target.log" >&2
    echo "fuzz: $target failed (see above; the input is in guest/fuzz/artifacts/$target)" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran without a crash" >&2
