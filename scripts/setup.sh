#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (idempotent, quiet when all is there): what the
# demo needs (scripts/setup-base.sh: the build tools, ippeveprinter, the Rust toolchain, the test database
# server), then what the whole test suite adds: CUPS, systemd's tools, node and npm, Chromium, wine and
# MinGW, rustfmt and clippy, the cross-compilation targets and zig.
set -euo pipefail
bash "$(dirname "$0")/setup-base.sh"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
need=()
# A private CUPS server in front of ippeveprinter (tests/tests/cups.rs): raw and IPP Everywhere queues.
[ -x /usr/sbin/cupsd ] || need+=(cups-daemon)
command -v lpadmin >/dev/null || need+=(cups-client)
[ -x /usr/lib/cups/filter/pdftopdf ] || need+=(cups-filters)
# The systemd unit's test (tests/tests/systemd_unit.rs): systemd-analyze verify, setpriv for the service's uid.
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v setpriv >/dev/null || need+=(util-linux)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
# The worker for Windows is run under wine (scripts/test-wine.sh).
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
command -v file >/dev/null || need+=(file)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
# The zig virtualenv below.
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
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
