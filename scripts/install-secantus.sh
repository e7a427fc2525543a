#!/usr/bin/env bash
# Installs SecantusDB's Rust server (the MongoDB-compatible test database) once, cached outside the clone.
# Prints the path of the binary. GPL: it runs as a separate process and is never linked or vendored.
set -euo pipefail
VERSION=0.5.3-beta.196
ROOT="${PRINTCORE_CACHE:-$HOME/.cache/printcore}/secantus-$VERSION"
BIN="$ROOT/bin/secantusd-rs"
if [ ! -x "$BIN" ]; then
  # An older session may have cached it without the version in the path.
  OLD="${PRINTCORE_CACHE:-$HOME/.cache/printcore}/secantus/bin/secantusd-rs"
  if [ -x "$OLD" ] && "$OLD" --help 2>&1 | head -1 | grep -q "$VERSION"; then
    mkdir -p "$ROOT/bin" && cp "$OLD" "$BIN"
  else
    if ! command -v cmake >/dev/null; then
      echo "installing cmake (needed to build the test database server)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >&2 || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >&2; }
    fi
    echo "building secantus-mdb $VERSION once (about 12 minutes on 2 cores); cached in $ROOT" >&2
    cargo install secantus-mdb --version "$VERSION" --ignore-rust-version --locked --root "$ROOT" >&2
  fi
fi
echo "$BIN"
