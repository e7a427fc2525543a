#!/usr/bin/env bash
# The demo on local defaults: starts the database server (or uses MONGODB_URI), then runs the claim cycle.
# The full shop demo (virtual IPP printer, sample PDFs, the worker) arrives with the demo issue.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
bash scripts/setup.sh
if [ -n "${MONGODB_URI:-}" ]; then
  echo "demo: using the database at MONGODB_URI (password hidden): $(echo "$MONGODB_URI" | sed -E 's#//([^:/@]+):[^@]*@#//\1:****@#')"
else
  cargo build -q -p printcore-tests --bin pc-harness
  fifo=$(mktemp -u); mkfifo "$fifo"
  "$CARGO_TARGET_DIR/debug/pc-harness" db > "$fifo" &
  harness=$!
  trap 'kill $harness 2>/dev/null' EXIT
  read -r line < "$fifo"; rm -f "$fifo"
  export MONGODB_URI="${line#MONGODB_URI=}"
  echo "demo: started a local database server at $MONGODB_URI"
fi
cargo run -q -p printcore --example claim_cycle
