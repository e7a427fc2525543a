#!/usr/bin/env bash
# What the demo needs on a fresh Debian machine, and the base of scripts/setup.sh (which adds what the whole
# test suite needs): the C build tools the Rust build needs, ippeveprinter with dbus and avahi, the Rust
# toolchain, and the test database server (SecantusDB, built once, cached in ~/.cache).
# Idempotent, unattended (root, no stdin), quiet when all is there.
#   --plan    install nothing: print what is missing, one word a line (apt:<package>, rust, db)
#   --no-db   leave out the database server (the demo with MONGODB_URI set does not need it)
set -euo pipefail
plan=0 db=1
for a in "$@"; do
  case $a in
    --plan) plan=1 ;;
    --no-db) db=0 ;;
    *) echo "setup-base: unknown option $a" >&2; exit 2 ;;
  esac
done
need=()
# The Rust build: a C compiler and linker (ring, aws-lc-sys), pkg-config; cmake builds the database server.
command -v cc >/dev/null || need+=(build-essential)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
# The virtual printer: CUPS's ippeveprinter, which announces itself over DNS-SD (dbus, avahi).
[ -x /usr/sbin/ippeveprinter ] || command -v ippeveprinter >/dev/null || need+=(cups-ipp-utils)
command -v dbus-daemon >/dev/null || need+=(dbus)
command -v avahi-daemon >/dev/null || need+=(avahi-daemon)
# Fetching rustup and the crates.
command -v curl >/dev/null || need+=(curl)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
rust=0
command -v cargo >/dev/null || rust=1
# Where scripts/install-secantus.sh caches the server (its version is the one pinned there).
secantus_missing() {
  local v
  v=$(sed -n 's/^VERSION=//p' "$(dirname "$0")/install-secantus.sh")
  [ ! -x "${PRINTCORE_CACHE:-$HOME/.cache/printcore}/secantus-$v/bin/secantusd-rs" ]
}

if [ $plan = 1 ]; then
  for p in ${need[@]+"${need[@]}"}; do echo "apt:$p"; done
  [ $rust = 0 ] || echo rust
  [ $db = 0 ] || ! secantus_missing || echo db
  exit 0
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
if [ $rust = 1 ]; then
  echo "setup: installing the Rust toolchain (rustup, stable, minimal profile)" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal >&2
  . "$HOME/.cargo/env"
fi
if [ $db = 1 ]; then
  "$(dirname "$0")/install-secantus.sh" >/dev/null
fi
