#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing, checks formatting and lints,
# and runs every test against real services (the harness starts the database server; MONGODB_URI wins).
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
export CARGO_TERM_COLOR=never
bash scripts/setup.sh || { echo "setup failed"; exit 1; }

status=0
echo "== cargo fmt --check"
cargo fmt --all -- --check || { echo "cargo fmt: unformatted code"; status=1; }
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings || { echo "clippy: warnings"; status=1; }

echo "== cargo test"
log=$(mktemp)
cargo test --workspace 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
[ "$test_status" -eq 0 ] || status=1

passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) f += $i } END { print f + 0 }' "$log")
rm -f "$log"
echo
echo "Summary: ${passed:-0} passed, ${failed:-0} failed"
exit $status
