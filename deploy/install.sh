#!/bin/sh
# Installs (or upgrades) the print worker as the systemd service printcore-worker on a Linux print PC:
#
#   sudo deploy/install.sh target/release/worker worker.toml
#
# It puts the files where deploy/printcore-worker.service expects them (the list is in the unit's header),
# asks for the MongoDB connection string when none is stored yet (or reads it from standard input:
# `sudo deploy/install.sh target/release/worker worker.toml < uri.txt`), then reloads systemd, enables the
# service and (re)starts it. The connection string never appears on a command line.
#
# The service runs as a user systemd makes up at each start (DynamicUser=yes), which no group could be
# given in advance: so worker.toml is readable by every user and must not hold the password (this script
# and the worker refuse one), and the connection string is a credential that only root reads, handed by
# systemd to the service alone.
#
# --root DIR installs under DIR instead of / and leaves systemd alone (for packaging and the tests in
# tests/tests/systemd_unit.rs).
set -eu
umask 022

usage() {
  echo "usage: $0 [--root DIR] WORKER_BINARY WORKER_TOML" >&2
}
fail() {
  echo "install.sh: $*" >&2
  exit 1
}

root=
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || { usage; exit 2; }; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || { usage; exit 2; }
bin=$1
config=$2
here=$(cd "$(dirname "$0")" && pwd)
unit=$here/printcore-worker.service

[ "$(id -u)" -eq 0 ] || fail "run it as root (sudo $0 ...)"
[ -f "$bin" ] && [ -x "$bin" ] || fail "$bin is not the worker program (cargo build --release -p worker)"
[ -f "$config" ] || fail "$config: no such configuration file (copy worker/worker.example.toml)"
[ -f "$unit" ] || fail "$unit is missing"
# A mongodb:// or mongodb+srv:// string with an '@' before its hosts carries a user and password.
if grep -Eq "^[[:space:]]*uri[[:space:]]*=[[:space:]]*[\"']mongodb(\+srv)?://[^\"'/?#]*@" "$config"; then
  fail "$config holds the database connection string with its password ([database] uri): delete that line;" \
    "this script stores the connection string as the service's credential instead"
fi

# The program and the configuration: root's, readable by all.
install -D -m 755 -o root -g root "$bin" "$root/usr/local/bin/printcore-worker"
install -d -m 755 -o root -g root "$root/etc/printcore"
install -m 644 -o root -g root "$config" "$root/etc/printcore/worker.toml"

# The connection string: root's alone; systemd reads it and gives the service a copy only it can read.
install -d -m 700 -o root -g root "$root/etc/credstore"
cred=$root/etc/credstore/printcore-worker.mongodb_uri
if [ -s "$cred" ]; then
  echo "keeping the connection string in $cred (edit it, then: systemctl restart printcore-worker)"
else
  uri=
  if [ -t 0 ]; then
    printf 'MongoDB connection string (not shown as you type): ' >&2
    trap 'stty echo 2>/dev/null' EXIT INT TERM
    stty -echo
    read -r uri || true
    stty echo
    echo >&2
  else
    read -r uri || true
  fi
  [ -n "$uri" ] || fail "no connection string given"
  case $uri in
    mongodb://* | mongodb+srv://*) ;;
    *) fail "that is not a MongoDB connection string (mongodb://... or mongodb+srv://...)" ;;
  esac
  # printf is the shell's own: the string is in no process's arguments.
  (umask 077 && printf '%s\n' "$uri" >"$cred.new")
  chown root:root "$cred.new"
  chmod 600 "$cred.new"
  mv -f "$cred.new" "$cred"
  echo "stored the connection string in $cred"
fi

install -D -m 644 -o root -g root "$unit" "$root/etc/systemd/system/printcore-worker.service"

if [ -n "$root" ]; then
  echo "installed under $root"
elif [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable printcore-worker
  systemctl restart printcore-worker
  echo "printcore-worker started; its logs: journalctl -u printcore-worker -f"
  echo "(a configuration or connection problem shows there, from 'worker check', and in: systemctl status printcore-worker)"
else
  echo "installed; systemd is not running here: start it with systemctl enable --now printcore-worker on the print PC"
fi
