#!/usr/bin/env bash
# The demo on local defaults, on a fresh Debian machine: installs only what the demo needs
# (scripts/setup-base.sh: the build tools, ippeveprinter, the Rust toolchain, the database server), says how
# long that will take, starts the database server, a virtual IPP printer and a local file server with sample
# PDFs, seeds about 20 paid orders, runs the real worker until every order is printed or failed, and prints a
# summary table. With MONGODB_URI set it uses that database instead (and does not build the database server).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
base=()
[ -z "${MONGODB_URI:-}" ] || base+=(--no-db)

# How long the first run takes, from the parts that are missing, on 2 cores (fewer minutes with more). Measured
# on a 2-core machine: the database server's build 1120 CPU-seconds, the worker's and the demo's 720; the 157
# Debian packages (124 MB) and the crates (about 90 MB, both builds) download in seconds to a minute.
missing=$(bash scripts/setup-base.sh --plan ${base[@]+"${base[@]}"})
parts=() minutes=0
add() { parts+=("$1 ~$2 min"); minutes=$((minutes + $2)); }
apt=$(grep -c '^apt:' <<<"$missing" || true)
[ "$apt" = 0 ] || add "Debian packages" 2
! grep -qx rust <<<"$missing" || add "the Rust toolchain" 1
! grep -qx db <<<"$missing" || add "database server build" 12
[ -x "$CARGO_TARGET_DIR/debug/worker" ] && [ -x "$CARGO_TARGET_DIR/debug/printcore-demo" ] || add "worker and demo build" 7
if [ ${#parts[@]} -gt 0 ]; then
  list=$(printf '%s, ' "${parts[@]}")
  echo "demo: first run on this machine: about $minutes minutes (${list%, }) on 2 cores; later runs: seconds, up to a minute after code changes"
fi

bash scripts/setup-base.sh ${base[@]+"${base[@]}"}
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
echo "demo: building the worker and the demo..."
started=$SECONDS
cargo build -q -p worker --bin worker -p printcore-tests --bin printcore-demo
[ $((SECONDS - started)) -lt 20 ] || echo "demo: built in $((SECONDS - started)) s"
exec "$CARGO_TARGET_DIR/debug/printcore-demo"
