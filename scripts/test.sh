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
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
[ "$test_status" -eq 0 ] || status=1

passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) f += $i } END { print f + 0 }' "$log")

echo "== the worker for Windows (cross-compiled check and lints)"
bash scripts/check-windows.sh || status=1

echo "== the worker for Windows, run under wine (worker.exe: exit codes, printing over IPP and to a folder, Ctrl-C, the service, the spooler)"
bash scripts/test-wine.sh 2>&1 | tee "$log.wine"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
passed=$((passed + $(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$log.wine")))
failed=$((failed + $(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) f += $i } END { print f + 0 }' "$log.wine")))

echo "== fuzzing (bounded)"
bash scripts/fuzz.sh || status=1

echo "== the npm package: build the addon, check index.js/index.d.ts did not drift, node tests, tsc"
npm ci --no-audit --no-fund --loglevel=error || { echo "npm ci failed"; status=1; }
cargo build --quiet -p printcore-tests --bin pc-harness || status=1
if npm run --silent build:debug >"$log.napi" 2>&1; then
  if ! git diff --quiet -- index.js index.d.ts; then
    echo "index.js / index.d.ts are out of date with the Rust code: run 'npm run build' and commit them"
    git --no-pager diff --stat -- index.js index.d.ts
    status=1
  fi
else
  cat "$log.napi"; echo "napi build failed"; status=1
fi
npm test 2>&1 | tee "$log.node"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
node_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.node" | tail -1)
node_failed=$(awk '/^ℹ fail/ { print $3 }' "$log.node" | tail -1)
passed=$((passed + ${node_passed:-0}))
failed=$((failed + ${node_failed:-0}))
[ -n "$node_passed" ] || { echo "the node tests did not run"; status=1; }
# Each check below counts as one passed or failed test in the summary.
check() {
  local name=$1; shift
  local started=$SECONDS
  if "$@"; then
    echo "$name: ok ($((SECONDS - started)) s)"; passed=$((passed + 1))
  else
    echo "$name: FAILED ($((SECONDS - started)) s)"; failed=$((failed + 1)); status=1
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
[ "$npm_failed" -eq 0 ] && [ "$(grep -c '^artifact ' "$log.npm")" -eq 5 ] || { echo "the addon builds failed"; status=1; }
echo "prebuilt addons: $((SECONDS - npm_started)) s"

echo "== the packed package in a fresh Next.js app, with no Rust on PATH"
dist="$HOME/.cache/printcore/dist"
rm -rf "$dist" && mkdir -p "$dist"
node scripts/pack-npm.mjs "$dist" linux-x64-gnu || status=1
install_started=$SECONDS
PRINTCORE_DIST="$dist" node --test --test-reporter=spec install-tests/ 2>&1 | tee "$log.install"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
install_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.install" | tail -1)
install_failed=$(awk '/^ℹ fail/ { print $3 }' "$log.install" | tail -1)
[ -n "$install_passed" ] || { echo "the install tests did not run"; status=1; }
passed=$((passed + ${install_passed:-0}))
failed=$((failed + ${install_failed:-0}))
echo "fresh Next.js app: $((SECONDS - install_started)) s"

echo "== the admin site example: production build, browser tests"
mkdir -p examples/admin-site/vendor
rm -f examples/admin-site/vendor/*.tgz
cp "$dist"/*.tgz examples/admin-site/vendor/ || status=1
bash scripts/test-site.sh 2>&1 | tee "$log.site"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
site_passed=$(awk '/^ℹ pass/ { print $3 }' "$log.site" | tail -1)
site_failed=$(awk '/^ℹ fail/ { print $3 }' "$log.site" | tail -1)
[ -n "$site_passed" ] || { echo "the admin site tests did not run"; status=1; }
passed=$((passed + ${site_passed:-0}))
failed=$((failed + ${site_failed:-0}))
rm -f "$log" "$log.napi" "$log.node" "$log.site" "$log.wine" "$log.npm" "$log.install"

echo
echo "Summary: ${passed:-0} passed, ${failed:-0} failed"
exit $status
