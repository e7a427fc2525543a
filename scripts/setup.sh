#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (idempotent, quiet when all is there):
# Debian packages, the Rust components, and the test database server (built once, cached in ~/.cache).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -x /usr/sbin/ippeveprinter ] || command -v ippeveprinter >/dev/null || need+=(cups-ipp-utils)
# A private CUPS server in front of ippeveprinter (tests/tests/cups.rs): raw and IPP Everywhere queues.
[ -x /usr/sbin/cupsd ] || need+=(cups-daemon)
command -v lpadmin >/dev/null || need+=(cups-client)
[ -x /usr/lib/cups/filter/pdftopdf ] || need+=(cups-filters)
command -v dbus-daemon >/dev/null || need+=(dbus)
command -v avahi-daemon >/dev/null || need+=(avahi-daemon)
# The systemd unit's test (tests/tests/systemd_unit.rs): systemd-analyze verify, setpriv for the service's uid.
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v setpriv >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
# The worker for Windows is run under wine (scripts/test-wine.sh).
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
command -v file >/dev/null || need+=(file)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The npm package's prebuilt addons (scripts/build-npm.sh): the Rust targets, and zig with cargo-zigbuild
# from PyPI (pinned) in a virtualenv outside the clone.
for t in aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-pc-windows-gnu; do
  rustup target list --installed 2>/dev/null | grep -qx "$t" || rustup target add "$t" >/dev/null 2>&1 || echo "setup: could not add the Rust target $t" >&2
done
zigenv="$HOME/.cache/printcore/zig-venv"
if ! "$zigenv/bin/cargo-zigbuild" --version 2>/dev/null | grep -q '0.24.1' || ! "$zigenv/bin/python" -m ziglang version 2>/dev/null | grep -q '^0.15.2'; then
  python3 -m venv "$zigenv" >&2
  "$zigenv/bin/pip" install -q ziglang==0.15.2 cargo-zigbuild==0.24.1 >&2
fi
"$(dirname "$0")/install-secantus.sh" >/dev/null
