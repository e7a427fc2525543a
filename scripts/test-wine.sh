#!/usr/bin/env bash
# The Windows worker, run: builds worker.exe (x86_64-pc-windows-gnu, the build scripts/check-windows.sh
# lints), the wine test helpers in tests/wine (MinGW), and a wineprefix once under ~/.cache, then runs
# tests/tests/wine.rs against the real database server, ippeveprinter and file server.
#
# tests/wine/bcryptprimitives.c is a test harness for wine only, never shipped: Rust 1.78+ Windows programs
# call ProcessPrng (bcryptprimitives.dll, Windows 10+), which Debian's wine 8 lacks; the shim implements it
# with RtlGenRandom and is copied into the test prefix's system32.
#
# Installs wine64 and MinGW when missing; says so and skips when it cannot (no apt). Prints the cargo test
# result lines, which scripts/test.sh counts into its summary.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
target=x86_64-pc-windows-gnu
cache="$HOME/.cache/printcore/wine"
started=$(date +%s)

need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  echo "wine tests: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; }
fi
loader=/usr/lib/wine/wine64
[ -x "$loader" ] || loader=$(command -v wine64 || true)
if [ -z "$loader" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "wine tests: skipped (wine64 or the MinGW C compiler could not be installed)"
  exit 0
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >/dev/null 2>&1 || { echo "wine tests: skipped (rustup could not add $target)"; exit 0; }
fi

# One run at a time on this machine: runs share the prefix, and each ends its wineserver. Programs that
# may outlive the script (wine's server and services) do not get the lock's descriptor (9>&-).
mkdir -p "$cache"
exec 9>"$cache/lock"
flock -w 1800 9 || { echo "wine tests: another run held $cache/lock for 30 minutes"; exit 1; }

echo "== wine: building worker.exe"
cargo build --quiet --target "$target" -p worker --bin worker || { echo "wine tests: worker.exe did not build"; exit 1; }
exe="$CARGO_TARGET_DIR/$target/debug/worker.exe"

echo "== wine: the test helpers (tests/wine, MinGW)"
mkdir -p "$cache/bin"
x86_64-w64-mingw32-gcc -shared -O2 -Wall -o "$cache/bin/bcryptprimitives.dll" tests/wine/bcryptprimitives.c -ladvapi32 &&
  x86_64-w64-mingw32-gcc -municode -O1 -Wall -o "$cache/bin/spoolprint.exe" tests/wine/spoolprint.c -lwinspool &&
  x86_64-w64-mingw32-gcc -municode -O1 -Wall -o "$cache/bin/spoolsetup.exe" tests/wine/spoolsetup.c -lwinspool ||
  { echo "wine tests: the helpers did not build"; exit 1; }

export WINEPREFIX="$cache/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
unset DISPLAY WAYLAND_DISPLAY
wineserver="$(dirname "$loader")/wineserver"
[ -x "$wineserver" ] || wineserver=wineserver
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "== wine: creating the wineprefix $WINEPREFIX (once)"
  rm -rf "$WINEPREFIX"
  timeout 300 "$loader" wineboot --init >/dev/null 2>&1 9>&- || { echo "wine tests: wineboot failed"; exit 1; }
  timeout 60 "$wineserver" -w
fi
cp "$cache/bin/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
# One wineserver for the whole run, with its services started here (not by a test whose output pipes they
# would inherit and hold open); ended below.
timeout 60 "$wineserver" -k </dev/null >/dev/null 2>&1
timeout 60 "$wineserver" -p </dev/null >/dev/null 2>&1 9>&-
timeout 120 "$loader" cmd /c exit </dev/null >/dev/null 2>&1 9>&-
# Left over by an interrupted run: test folders and printers come and go with each test.
rm -rf "$WINEPREFIX/drive_c/printcore-tests"

export PRINTCORE_WINE="$loader" PRINTCORE_WINE_PREFIX="$WINEPREFIX" PRINTCORE_WINE_EXE="$exe"
export PRINTCORE_WINE_HELPERS="$cache/bin" PRINTCORE_WINE_SHIM="$cache/bin/bcryptprimitives.dll"
# --workspace: the features the main test run resolved, so nothing is built again for this.
cargo test --quiet --workspace --test wine --no-run || { echo "wine tests: did not build"; exit 1; }
echo "== wine: worker.exe under $("$loader" --version 2>/dev/null)"
timeout 1200 cargo test --workspace --test wine -- --ignored --test-threads=2 9>&-
status=$?
timeout 60 "$wineserver" -k 2>/dev/null
echo "wine tests: $(( $(date +%s) - started )) s"
exit "$status"
