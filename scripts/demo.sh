#!/usr/bin/env bash
# The demo on local defaults, on a fresh Debian machine: installs what is missing (the database server,
# ippeveprinter), starts the database server, a virtual IPP printer and a local file server with sample
# PDFs, seeds about 20 paid orders, runs the real worker until every order is printed or failed, and
# prints a summary table. With MONGODB_URI set it uses that database instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
bash scripts/setup.sh
echo "demo: building (the first build takes a few minutes)..."
cargo build -q -p worker --bin worker
cargo build -q -p printcore-tests --bin printcore-demo
exec "$CARGO_TARGET_DIR/debug/printcore-demo"
