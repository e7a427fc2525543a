#!/usr/bin/env bash
# Runs every benchmark in benches/ (release builds, real services) and writes docs/BENCHMARKS.md with the
# machine and database server named. Each figure is a median of several runs, next to its baseline from
# the same run, and the peers (Agenda, the official Node driver) from benches/node. Opens with one table:
# each item of the performance goals with printcore's figure, the peer or baseline, the ratio, the goal
# and whether it is met (the `ITEM|` lines the benches print). Takes about 40 minutes on 2 cores, plus the
# fleet bench (N = 1, 10, 50 worker processes; not timed whole: its 5,000-order drain is slow on SecantusDB).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/printcore/target}"
bash scripts/setup.sh
cargo build --release -q -p worker --bin worker
# The peers' side: Agenda and the official driver (benches/node), and the release addon they compare.
(cd benches/node && npm ci --no-audit --no-fund --loglevel=error)
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build >/dev/null
out=docs/BENCHMARKS.md
mkdir -p docs
tmp=$(mktemp -d)
benches="claim pdf snapshot worker drain peers fleet"
# The fleet bench draws its figures against N into docs/fleet.svg (linked from its section).
export FLEET_SVG="$PWD/docs/fleet.svg"
for b in $benches; do
  echo "== bench $b"
  cargo bench -q -p printcore-benches --bench "$b" 2>/dev/null | tee "$tmp/$b.txt"
done
server="SecantusDB $(grep -o 'VERSION=.*' scripts/install-secantus.sh | cut -d= -f2) (MongoDB-compatible, single node; the harness's flags, tests/src/db.rs: a checkpoint every 5 s since 2026-12-07, 60 s in the runs before)"
[ -n "${MONGODB_URI:-}" ] && server="MONGODB_URI (password hidden): $(echo "$MONGODB_URI" | sed -E 's#//([^:/@]+):[^@]*@#//\1:****@#')"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash scripts/bench.sh\` on $(date -u +%Y-%m-%d). Each figure is the median of several runs and"
  echo "stands next to a baseline measured in the same run."
  echo
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- Database server: $server"
  echo "- Rust $(rustc --version | cut -d' ' -f2), Node $(node --version), release builds"
  echo
  echo "## Summary: each goal, met or not"
  echo
  echo "| item | printcore | peer or baseline | ratio | goal | |"
  echo "|---|---|---|---|---|---|"
  cat "$tmp"/*.txt | grep '^ITEM|' | sed -E 's/^ITEM\|/| /; s/$/ |/'
  echo
  echo "Ratios are printcore's advantage where a peer is named (above 1: printcore better), printcore over"
  echo "the baseline otherwise. The sections below are each benchmark's full output."
  for b in $benches; do
    echo
    case $b in
      claim)
        echo "## Claim throughput: printcore's claim vs the bare driver (same filter, same server)"
        echo
        echo "The plan rows explain the claim's own findAndModify (\`PrintCore::explain_claim\`). Its index holds"
        echo "\`printNotBefore\`, colour, sides and page size before the sort keys and the claim asks for points there,"
        echo "so orders scheduled later or needing what the printer lacks are outside every range it reads. SecantusDB"
        echo "counts one key for a merge of sorted ranges where MongoDB counts about one per range (18 here: colour"
        echo "false or none, sides false, none or true, page size A4, a4 or none), whatever the queue. The ms/claim"
        echo "still grows with the queue on SecantusDB, which reads a range in time proportional to the whole range"
        echo "(ARCHITECTURE.md, test server quirks)."
        ;;
      pdf)
        echo "## PDF validation throughput, and what containment costs per order"
        echo
        echo "The pre-scan's own speed is next to lopdf's parse. Contained validation (a child of the worker binary"
        echo "with its limits, as the worker runs it) is compared with validating the same file in process; the"
        echo "extra milliseconds are the child's start, once per file.";;
      snapshot) echo "## Monitor snapshot at 10,000 and 1,000,000 orders, with explain plans";;
      worker)
        echo "## Worker: payment -> claim and -> printer latency, an admin's cancel at the printer, round trips per printed order, idle cost"
        echo
        echo "The cancel: \`resetState\` of a printing order, from the call until ippeveprinter reports the job"
        echo "stopping (\`processing-to-stop-point\`) or cancelled."
        echo
        echo "Round trips per printed order (a folder printer): the three state writes (claim, being sent, then the"
        echo "reference and \`printed\` in one write, since a folder job is complete once taken), plus one log insert per second of the run"
        echo "and one outbox pull per 10 s (the worker batches its log entries across orders), so the extra shrinks"
        echo "as the run gets faster. On SecantusDB a claim that merges sorted ranges costs time per range (ARCHITECTURE.md,"
        echo "test server quirks), which lengthens this run of 200 orders to about 6 s."
        ;;
      drain)
        echo "## Drain rate with 8 printers against Agenda's no-op jobs, where the time goes, and memory under a backlog"
        echo
        echo "One worker process with 8 folder printers drains 500 paid orders (download, contained validation in a"
        echo "child per file as by default, the durable being-sent mark, three journal lines flushed to disk, the job's folder written,"
        echo "the three state writes) against Agenda 6's 500 no-op jobs at concurrency 8 on the same server in the same"
        echo "run. The stage table is the worker's own account (\`worker/src/stages.rs\`, logged when it stops): each"
        echo "stage's time per order and its share of the 8 slots' time; a slot without an order is waiting for the"
        echo "claim loop. The CPU lines say who used the machine's cores, what an order costs the database server (the"
        echo "worker, the bare loop, Agenda's whole script) and so the fastest drain the cores allow.";;
      peers) echo "## Side by side with the peers: Agenda 6, and the website's own code on the official driver";;
      fleet)
        echo "## A fleet on one database: N workers, idle cost, a 5,000-order drain, 20 orders/s arriving"
        echo
        echo "N worker processes (the release binary on the shop's default intervals, change streams, two folder"
        echo "printers each) on one database server; every command they send is counted on the wire by a proxy"
        echo "(\`printcore_tests::wire::WireCounter\`). Idle: commands a minute over a fixed window once every printer"
        echo "is online (budget 13 per worker: 12 for one printer, 1 per extra printer). Drain: 5,000 paid orders"
        echo "inserted at once, orders/s from the first payment to the last \`printCompletedAt\`, payment -> printer"
        echo "(the folder job's write time, one clock). Wasted: \`findAndModify\` on the wire, less the printers'"
        echo "health writes (a change stream on \`printers\` counts them) and the claims that took an order (the sum of"
        echo "\`printAttempt\`), per printed order. 20/s: orders paid one at a time by \`mark_paid\`. \"Where the time"
        echo "goes\" splits each phase's CPU between the database server, the workers (with their validation"
        echo "children), the bench itself (the wire proxy relays every byte) and the rest of the machine."
        echo
        echo "![Each figure against N](fleet.svg)"
        ;;
    esac
    echo
    echo '```text'
    grep -v '^ITEM|' "$tmp/$b.txt"
    echo '```'
  done
} > "$out"
rm -rf "$tmp"
echo "wrote $out"
