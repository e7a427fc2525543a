#!/usr/bin/env bash
# Builds the worker for the shop's Windows PC on Linux: dist/windows/worker.exe (x86_64-pc-windows-gnu,
# release, cross-compiled with MinGW; it needs only DLLs every Windows 10/11 has) and worker.example.toml.
# Copy both to C:\printcore on the print PC and follow the guide's "The print PC on Windows, step by step" (docs/guide/src/print-pc/windows.md).
# The wine test shim (tests/wine/bcryptprimitives.c) is not part of it: Windows has its own.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
target=x86_64-pc-windows-gnu
command -v x86_64-w64-mingw32-gcc >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64; }
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
cargo build --release --target "$target" -p worker --bin worker
mkdir -p dist/windows
cp "$CARGO_TARGET_DIR/$target/release/worker.exe" worker/worker.example.toml dist/windows/
# The release profile keeps debug information (about 200 MB); the shop's copy does without (about 30 MB).
x86_64-w64-mingw32-strip dist/windows/worker.exe
echo "dist/windows: $(ls dist/windows | tr '\n' ' ')"
