#!/usr/bin/env bash
# Compiles and lints the worker for Windows (x86_64-pc-windows-gnu), the print PC's usual system, so the
# cfg(windows) code (Ctrl-C, Ctrl-Break, console close and system shutdown handling) cannot rot unseen.
# Needs the Rust target and the MinGW C compiler (aws-lc's build script); installs both when it can, and
# says so and skips when it cannot (no network for rustup, no apt).
set -uo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1; }
fi
if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "windows check: skipped (the MinGW C compiler could not be installed)"
  exit 0
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >/dev/null 2>&1 || { echo "windows check: skipped (rustup could not add $target)"; exit 0; }
fi
cargo clippy --quiet --target "$target" -p worker -- -D warnings && echo "windows check: the worker compiles for Windows, clippy clean"
