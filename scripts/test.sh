#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing, checks formatting and lints,
# and runs every test against real services (the harness starts the database server; MONGODB_URI wins).
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
export CARGO_TERM_COLOR=never
bash scripts/setup.sh || { echo "setup failed"; exit 1; }

# Free disk, where the builds and the test servers write. A disk that fills mid-run shows up as a
# storage-engine panic of the test database (WT_PANIC) and every later test of that binary failing, so the
# summary repeats this figure when a step failed. A fresh machine needs about 16 GB (docs/guide: Developing).
free_disk() { df -h "$CARGO_TARGET_DIR" "${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR > 1 { print "  " $6 ": " $4 " free of " $2 }' | sort -u; }
mkdir -p "$CARGO_TARGET_DIR"
echo "== free disk at the start"
free_disk

status=0
# Every step that fails names itself here; the list is printed with the summary, at the end of the output
# (the part of a long log a CI page shows).
failed_steps=()
step_failed() { status=1; failed_steps+=("$1"); }
echo "== cargo fmt --check"
cargo fmt --all -- --check || { echo "cargo fmt: unformatted code"; step_failed "cargo fmt"; }
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings || { echo "clippy: warnings"; step_failed "clippy"; }

echo "== cargo test"
log=$(mktemp)
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
# A test binary can end badly without a failed test to count (killed by a signal, an abort after its
# result line): cargo's own lines name it, and are kept for the end of the output.
cargo_test_errors=""
if [ "$test_status" -ne 0 ]; then
  step_failed "cargo test (exit $test_status)"
  cargo_test_errors=$(grep -E "^error|didn't exit successfully|^    \`--|^failures:$|^    [a-z_0-9:]+$" "$log" | tail -40)
fi

passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) f += $i } END { print f + 0 }' "$log")

echo "== the worker for Windows (cross-compiled check and lints)"
bash scripts/check-windows.sh || step_failed "the Windows check (scripts/check-windows.sh)"

echo "== the worker for Windows, run under wine (worker.exe: exit codes, printing over IPP and to a folder, Ctrl-C, the service, the spooler)"
bash scripts/test-wine.sh 2>&1 | tee "$log.wine"
[ "${PIPESTATUS[0]}" -eq 0 ] || step_failed "the wine tests (scripts/test-wine.sh)"
passed=$((passed + $(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log.wine")))
failed=$((failed + $(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) f += $i } END { print f + 0 }' "$log.wine")))

echo "== fuzzing (bounded)"
bash scripts/fuzz.sh || step_failed "fuzzing (scripts/fuzz.sh)"

echo "== the npm package: build the addon, check index.js/index.d.ts did not drift, node tests, tsc"
npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; step_failed "npm ci"; }
cargo build --quiet -p printcore-tests --bin pc-harness || step_failed "the pc-harness build"
if npm run --silent build:debug >"$log.napi" 2>&1; then
  if ! git diff --quiet -- index.js index.d.ts; then
    echo "index.js / index.d.ts are out of date with the Rust code: run 'npm run build' and commit them"
    git --no-pager diff --stat -- index.js index.d.ts
    step_failed "index.js/index.d.ts drift"
  fi
else
  cat "$log.napi"; echo "napi build failed"; step_failed "the napi build"
fi
npm test 2>&1 | tee "$log.node"
[ "${PIPESTATUS[0]}" -eq 0 ] || step_failed "npm test"
node_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.node" | tail -1)
# A test cancelled (its file timed out or ended early) counts as failed: node --test reports it apart.
node_failed=$(awk '/^ℹ (fail|cancelled)/ { n += $3 } END { print n + 0 }' "$log.node")
passed=$((passed + ${node_passed:-0}))
failed=$((failed + ${node_failed:-0}))
[ -n "$node_passed" ] || { echo "the node tests did not run"; step_failed "npm test (did not run)"; }
# Each check below counts as one passed or failed test in the summary.
check() {
  local name=$1; shift
  local started=$SECONDS
  if "$@"; then
    echo "$name: ok ($((SECONDS - started)) s)"; passed=$((passed + 1))
  else
    echo "$name: FAILED ($((SECONDS - started)) s)"; failed=$((failed + 1)); step_failed "$name"
  fi
}
check "tsc usage check (CommonJS, and ESM with moduleResolution bundler)" npm run --silent typecheck
check "TypeDoc of the public types (warnings are errors)" npx --no-install typedoc --logLevel Warn

echo "== the guide (docs/guide): mdbook build (warnings are errors), mdbook test, links"
# mdBook, pinned, built once into the cache without its web server and file watcher (the suite only builds
# and tests the book; those two features more than double its build), then nothing to do.
MDBOOK_VERSION=0.4.52
mdbook="$HOME/.cache/printcore/tools/bin/mdbook"
install_mdbook() {
  [ -x "$mdbook" ] && "$mdbook" --version | grep -qx "mdbook v$MDBOOK_VERSION" && return 0
  cargo install --quiet mdbook --version "$MDBOOK_VERSION" --locked --no-default-features --features search \
    --root "$HOME/.cache/printcore/tools"
}
# mdbook reports broken includes, bad SUMMARY entries and the like as WARN/ERROR lines on stderr and may
# still exit 0: any such line fails the step.
mdbook_build() {
  local out
  out=$("$mdbook" build docs/guide 2>&1) || { echo "$out"; return 1; }
  if grep -E '\[(WARN|ERROR)\]' <<<"$out"; then return 1; fi
}
check "mdBook $MDBOOK_VERSION installed" install_mdbook
check "the guide builds without warnings (mdbook build docs/guide)" mdbook_build
check "the guide's code blocks (mdbook test docs/guide)" "$mdbook" test docs/guide
check "the guide's and README's links (scripts/linkcheck.mjs)" node scripts/linkcheck.mjs
readme_small() { local n; n=$(wc -c <README.md); [ "$n" -lt 10240 ] || { echo "README.md is $n bytes: move detail into docs/guide"; return 1; }; }
check "README.md is a front page (under 10 KB)" readme_small
check "rustdoc of printcore (missing_docs denied, warnings are errors)" env RUSTDOCFLAGS="-D warnings" cargo doc --quiet -p printcore --no-deps

echo "== the npm package's prebuilt addons: build each platform once, check its architecture and glibc floor"
npm_started=$SECONDS
bash scripts/build-npm.sh 2>&1 | tee "$log.npm"
passed=$((passed + $(grep -c '^artifact .*: ok' "$log.npm")))
npm_failed=$(grep -c '^artifact .*: FAIL' "$log.npm")
failed=$((failed + npm_failed))
[ "$npm_failed" -eq 0 ] && [ "$(grep -c '^artifact ' "$log.npm")" -eq 5 ] || { echo "the addon builds failed"; step_failed "the prebuilt addons"; }
echo "prebuilt addons: $((SECONDS - npm_started)) s"

echo "== the packed package in a fresh Next.js app, with no Rust on PATH"
dist="$HOME/.cache/printcore/dist"
rm -rf "$dist" && mkdir -p "$dist"
node scripts/pack-npm.mjs "$dist" linux-x64-gnu || step_failed "pack-npm"
install_started=$SECONDS
PRINTCORE_DIST="$dist" node --test --test-reporter=spec install-tests/ 2>&1 | tee "$log.install"
[ "${PIPESTATUS[0]}" -eq 0 ] || step_failed "the install tests"
install_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.install" | tail -1)
install_failed=$(awk '/^ℹ (fail|cancelled)/ { n += $3 } END { print n + 0 }' "$log.install")
[ -n "$install_passed" ] || { echo "the install tests did not run"; step_failed "the install tests (did not run)"; }
passed=$((passed + ${install_passed:-0}))
failed=$((failed + ${install_failed:-0}))
echo "fresh Next.js app: $((SECONDS - install_started)) s"

echo "== the admin site example: production build, browser tests"
mkdir -p examples/admin-site/vendor
rm -f examples/admin-site/vendor/*.tgz
cp "$dist"/*.tgz examples/admin-site/vendor/ || step_failed "copying the packed package"
bash scripts/test-site.sh 2>&1 | tee "$log.site"
[ "${PIPESTATUS[0]}" -eq 0 ] || step_failed "the admin site tests"
site_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.site" | tail -1)
site_failed=$(awk '/^ℹ (fail|cancelled)/ { n += $3 } END { print n + 0 }' "$log.site")
[ -n "$site_passed" ] || { echo "the admin site tests did not run"; step_failed "the admin site tests (did not run)"; }
passed=$((passed + ${site_passed:-0}))
failed=$((failed + ${site_failed:-0}))
rm -f "$log" "$log.napi" "$log.node" "$log.site" "$log.wine" "$log.npm" "$log.install"

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "Failed steps:"
  printf '  - %s\n' "${failed_steps[@]}"
  [ -z "$cargo_test_errors" ] || { echo "cargo test said:"; echo "$cargo_test_errors"; }
  echo "Free disk now (a full disk fails the test database with WT_PANIC):"
  free_disk
fi
echo "Summary: ${passed:-0} passed, ${failed:-0} failed"
exit $status
