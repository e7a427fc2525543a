#!/usr/bin/env bash
# Builds the npm package's native addon for every platform that can be built on this Linux machine, once
# each, into npm/<platform>/printcore.<platform>.node, and checks each artifact: its architecture, and for
# the glibc builds the highest GLIBC symbol version it needs (the floor: 2.17, so every current Linux host
# and serverless runtime loads it). darwin and win32-msvc are built by .github/workflows/release.yml.
#
#   bash scripts/build-npm.sh            # every target below
#   bash scripts/build-npm.sh linux-x64-gnu linux-x64-musl
#
# Tools (installed by scripts/setup-npm-build.sh): cargo-zigbuild and zig from PyPI (linux gnu with a
# glibc floor, musl), MinGW (x86_64-pc-windows-gnu). Each target builds in a cache outside the clone,
# $HOME/.cache/printcore/target-<triple>, so a second run rebuilds only what changed.
# Prints one line "artifact <platform>: ok|FAIL ..." per target; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache="${PRINTCORE_CACHE:-$HOME/.cache/printcore}"
export PATH="$cache/zig-venv/bin:$PATH"
GLIBC_FLOOR=2.17
# linux-x64-gnu, the addon the fresh Next.js app test installs, is built as released (profile `npm`). The
# other targets are built here only to be checked (architecture, glibc floor, musl, DLL imports, none of
# which depends on optimisation), so CI builds them unoptimised (profile `npm-check`), which costs a third
# of the time on a fresh machine. PRINTCORE_NPM_PROFILE=npm builds every target as released (the release
# workflow does).
release_profile() {
  if [ -n "${PRINTCORE_NPM_PROFILE:-}" ]; then echo "$PRINTCORE_NPM_PROFILE"; elif [ "$1" = linux-x64-gnu ]; then echo npm; else echo npm-check; fi
}

# platform  rust target  zig target suffix  expected `file` architecture  libc
TARGETS=(
  "linux-x64-gnu    x86_64-unknown-linux-gnu   .$GLIBC_FLOOR  x86-64   gnu"
  "linux-arm64-gnu  aarch64-unknown-linux-gnu  .$GLIBC_FLOOR  aarch64  gnu"
  "linux-x64-musl   x86_64-unknown-linux-musl  -              x86-64   musl"
  "linux-arm64-musl aarch64-unknown-linux-musl -              aarch64  musl"
  "win32-x64-gnu    x86_64-pc-windows-gnu      -              x86-64   windows"
)

wanted=("$@")
status=0
for line in "${TARGETS[@]}"; do
  read -r platform triple suffix arch libc <<<"$line"
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $platform "* ]]; then continue; fi
  start=$(date +%s)
  PROFILE=$(release_profile "$platform")
  export CARGO_TARGET_DIR="$cache/target-$triple"
  log="$cache/build-$platform.log"
  # A cdylib for musl must link the C library dynamically (Node itself does).
  case $triple in
    *musl) flags="-C target-feature=-crt-static" ;;
    *) flags="" ;;
  esac
  if [ "$libc" = windows ]; then
    # napi-build links a MinGW addon against libnode.dll. Node exports N-API from node.exe itself: an
    # import library naming node.exe with every N-API function napi-sys declares (made with dlltool) is
    # what the linker needs; libnode.dll only has to exist for napi-build's search.
    stub="$cache/libnode-mingw"
    napi_sys=$(cargo metadata --format-version 1 2>/dev/null |
      python3 -c "import json,sys; print([p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name'] == 'napi-sys'][0])")
    mkdir -p "$stub"
    { echo "LIBRARY node.exe"; echo "EXPORTS"
      grep -rhoE 'fn (napi|node_api)_[a-z0-9_]+' "$(dirname "$napi_sys")/src" | sed 's/^fn /  /' | sort -u; } >"$stub/node.def.new"
    if ! cmp -s "$stub/node.def.new" "$stub/node.def"; then
      mv "$stub/node.def.new" "$stub/node.def"
      x86_64-w64-mingw32-dlltool -d "$stub/node.def" -l "$stub/libnode.dll.a" -D node.exe
    fi
    rm -f "$stub/node.def.new"
    : >"$stub/libnode.dll"
    export LIBNODE_PATH="$stub"
    build=(cargo build --profile "$PROFILE" -p printcore-node --target "$triple")
  else
    [ "$suffix" = - ] && suffix=""
    build=(cargo zigbuild --profile "$PROFILE" -p printcore-node --target "$triple$suffix")
  fi
  var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
  if ! env "$var=$flags" "${build[@]}" >"$log" 2>&1; then
    tail -30 "$log"
    echo "artifact $platform: FAIL (the build failed; log: $log)"
    status=1
    continue
  fi
  lib="$CARGO_TARGET_DIR/$triple/$PROFILE/libprintcore_node.so"
  [ "$libc" = windows ] && lib="$CARGO_TARGET_DIR/$triple/$PROFILE/printcore_node.dll"
  out="$root/npm/$platform/printcore.$platform.node"
  mkdir -p "$(dirname "$out")"
  cp "$lib" "$out"
  desc=$(file -b "$out")
  problem=""
  extra=""
  case $libc in
    windows)
      [[ $desc == *"PE32+"*"x86-64"* ]] || problem="not a 64-bit x86 Windows DLL: $desc"
      # It must load into node.exe: no import of a DLL that is not on every Windows.
      dlls=$(x86_64-w64-mingw32-objdump -p "$out" | sed -n 's/.*DLL Name: //p' | sort -u | tr '\n' ' ')
      extra=", imports ${dlls% }"
      [[ " $dlls" == *" libnode.dll "* ]] && problem="imports libnode.dll, which node.exe does not provide"
      ;;
    *) [[ $desc == *"ELF 64-bit"*"$arch"* ]] || problem="not a 64-bit $arch ELF: $desc" ;;
  esac
  if [ -z "$problem" ] && [ "$libc" = gnu ]; then
    highest=$(objdump -T "$out" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    extra=", needs glibc $highest"
    if [ "$(printf '%s\n%s\n' "$highest" "$GLIBC_FLOOR" | sort -V | tail -1)" != "$GLIBC_FLOOR" ]; then
      problem="needs glibc $highest, above the floor $GLIBC_FLOOR"
    fi
  fi
  if [ -z "$problem" ] && [ "$libc" = musl ]; then
    # musl's loader resolves a NEEDED libc.so (what zig links) to itself; glibc symbol versions must not
    # appear at all.
    needed=$(readelf -d "$out" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    [[ $needed == *"libc.so"* || $needed == *"libc.musl"* ]] || problem="does not link the C library dynamically (needs: $needed)"
    extra=", needs ${needed% }"
    ! objdump -T "$out" | grep -q GLIBC_ || problem="references glibc symbol versions"
  fi
  size=$(( $(stat -c %s "$out") / 1024 / 1024 ))
  if [ -n "$problem" ]; then
    echo "artifact $platform: FAIL ($problem)"
    status=1
  else
    echo "artifact $platform: ok ($triple, $arch$extra, ${size} MB, profile $PROFILE, built in $(( $(date +%s) - start )) s)"
  fi
done
exit $status
