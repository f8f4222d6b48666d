#!/usr/bin/env bash
# CPU benchmark run for docs/performance.md: `pow-host bench` on every challenge with one
# thread and with every core, then the criterion benchmarks of every path (single thread).
# Prints the machine, the date and the load average before and after each part.
#
#   scripts/bench-cpu.sh [SECONDS_PER_RUN]        # default 5
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-5}
cargo build --quiet --release -p pow-host -p pow-backend-cpu
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for challenge in v1 legacy faucet; do
    for threads in 1 0; do
        t=$([ "$threads" = 0 ] && echo "all cores" || echo "1 thread")
        rate=$(target/release/pow-host bench --backends cpu --challenge "$challenge" \
            --seconds "$S" --threads "$threads" --json | grep total_hashes_per_second)
        echo "pow-host bench $challenge ($t): $rate (load $(cut -d' ' -f1 /proc/loadavg))"
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --quiet -p pow-benches --bench cpu_paths 2>/dev/null | grep -E '^[a-z0-9]+/|thrpt'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
