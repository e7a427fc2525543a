#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (idempotent, quiet when all is there):
# Debian packages, the Rust components, and the test database server (built once, cached in ~/.cache).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -x /usr/sbin/ippeveprinter ] || command -v ippeveprinter >/dev/null || need+=(cups-ipp-utils)
command -v dbus-daemon >/dev/null || need+=(dbus)
command -v avahi-daemon >/dev/null || need+=(avahi-daemon)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
"$(dirname "$0")/install-secantus.sh" >/dev/null
