#!/usr/bin/env bash
# Runs each fuzz target (cargo-fuzz, libFuzzer) for a bounded time on its corpus in the repository:
# validate_pdf on tests/corpus/pdf, structural_pdf (PDFs built from structural pieces,
# tests/src/pdfstruct.rs) on tests/corpus/structural, worker_config on tests/corpus/config. A validation
# may use at most 1 GB (-rss_limit_mb) and 60 s (-timeout) per input: past either, libFuzzer reports it.
# A crashing input is kept outside the clone, in ~/.cache/printcore/fuzz-artifacts/<target>/.
# FUZZ_SECONDS per target (default 20). Needs a nightly toolchain; without one it says so and skips (the
# property tests in tests/tests/pdf_props.rs and pdf_hostile.rs cover the same ground on stable).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: skipped (no nightly toolchain on this machine)"
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz could not be installed"; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}-fuzz"
cd printcore/fuzz
status=0
for target in validate_pdf:../../tests/corpus/pdf structural_pdf:../../tests/corpus/structural worker_config:../../tests/corpus/config; do
  name=${target%%:*}; corpus=${target#*:}
  work=$(mktemp -d)
  cp "$corpus"/* "$work"/
  echo "fuzz: $name for ${seconds}s"
  artifacts="$HOME/.cache/printcore/fuzz-artifacts/$name"
  mkdir -p "$artifacts"
  if cargo +nightly fuzz run "$name" "$work" -- -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=60 \
    -artifact_prefix="$artifacts/" >"$work.log" 2>&1; then
    grep -E "^Done|#[0-9]+.*DONE" "$work.log" | tail -1
  else
    tail -40 "$work.log"; echo "fuzz: $name found a crash (the input is kept in $artifacts)"; status=1
  fi
  rm -rf "$work" "$work.log"
done
exit $status
