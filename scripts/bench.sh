#!/usr/bin/env bash
# Runs every benchmark in benches/ (release builds, real services) and writes docs/BENCHMARKS.md with the
# machine and database server named. Each figure is a median of several runs, next to its baseline from
# the same run. Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
bash scripts/setup.sh
cargo build --release -q -p worker --bin worker
out=docs/BENCHMARKS.md
mkdir -p docs
tmp=$(mktemp -d)
for b in claim pdf snapshot worker; do
  echo "== bench $b"
  cargo bench -q -p printcore-benches --bench "$b" 2>/dev/null | tee "$tmp/$b.txt"
done
server="SecantusDB $(grep -o 'VERSION=.*' scripts/install-secantus.sh | cut -d= -f2) (MongoDB-compatible, single node)"
[ -n "${MONGODB_URI:-}" ] && server="MONGODB_URI (password hidden): $(echo "$MONGODB_URI" | sed -E 's#//([^:/@]+):[^@]*@#//\1:****@#')"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash scripts/bench.sh\` on $(date -u +%Y-%m-%d). Each figure is the median of several runs and"
  echo "stands next to a baseline measured in the same run."
  echo
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- Database server: $server"
  echo "- Rust $(rustc --version | cut -d' ' -f2), release builds"
  for b in claim pdf snapshot worker; do
    echo
    case $b in
      claim) echo "## Claim throughput: printcore's claim vs the bare driver (same filter, same server)";;
      pdf)
        echo "## PDF validation throughput, and what containment costs per order"
        echo
        echo "The pre-scan's own speed is next to lopdf's parse. Contained validation (a child of the worker binary"
        echo "with its limits, as the worker runs it) is compared with validating the same file in process; the"
        echo "extra milliseconds are the child's start, once per file.";;
      snapshot) echo "## Monitor snapshot at 10,000 and 1,000,000 orders, with explain plans";;
      worker) echo "## Worker: payment -> claim latency, round trips per printed order, idle cost";;
    esac
    echo
    echo '```'
    cat "$tmp/$b.txt"
    echo '```'
  done
} > "$out"
rm -rf "$tmp"
echo "wrote $out"
