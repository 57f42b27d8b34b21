#!/usr/bin/env bash
# Runs the deterministic network simulation (Tests/TernSimulationTests, docs/simulation.md) over many
# seeds, in chunks, and reports seeds per second and the first failing seed (which then replays alone:
# TERN_SIM_SEED=n swift test --skip-build --filter TernSimulationTests).
#
#   scripts/simulate.sh [-n SEEDS] [-s FIRST] [-c CHUNK] [-j JOBS]
#     -n  how many seeds (default 1000000)     -s  the first seed (default 1)
#     -c  seeds per chunk (default 10000)      -j  chunks run at once (default 1; the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/install-packages.sh
use_swift

count=1000000 first=1 chunk=10000 jobs=1
while getopts "n:s:c:j:" option; do
    case "$option" in
        n) count=$OPTARG ;; s) first=$OPTARG ;; c) chunk=$OPTARG ;; j) jobs=$OPTARG ;;
        *) echo "usage: $0 [-n SEEDS] [-s FIRST] [-c CHUNK] [-j JOBS]" >&2; exit 2 ;;
    esac
done
for value in "$count" "$first" "$chunk" "$jobs"; do
    [[ "$value" =~ ^[0-9]+$ && "$value" -gt 0 ]] || { echo "$0: -n, -s, -c and -j take positive numbers" >&2; exit 2; }
done

swift build --build-tests >/dev/null
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
last=$((first + count - 1))
started=$(date +%s.%N)
done_seeds=0
low=$first
while [ "$low" -le "$last" ]; do
    # Up to $jobs chunks at once; the first failing seed is the lowest failure among them.
    pids=() ranges=()
    for ((job = 0; job < jobs && low <= last; job++)); do
        high=$((low + chunk - 1)); [ "$high" -gt "$last" ] && high=$last
        TERN_SIM_SEEDS="$low..$high" swift test --skip-build --filter "SimulationTests/seeds" \
            >"$logs/$low.log" 2>&1 &
        pids+=($!) ranges+=("$low..$high")
        low=$((high + 1))
    done
    failed=""
    for index in "${!pids[@]}"; do
        if ! wait "${pids[$index]}"; then
            [ -z "$failed" ] && failed=${ranges[$index]}
        fi
        range=${ranges[$index]}
        done_seeds=$((done_seeds + ${range#*..} - ${range%..*} + 1))
    done
    elapsed=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.1f", a - b }')
    rate=$(awk -v n="$done_seeds" -v t="$elapsed" 'BEGIN { printf "%.1f", n / (t > 0 ? t : 1) }')
    if [ -n "$failed" ]; then
        echo "seeds ${failed}: FAILED"
        grep -m1 -A40 "↳ seed" "$logs/${failed%..*}.log" || tail -40 "$logs/${failed%..*}.log"
        echo "first failing seed: $(grep -m1 -o 'seed [0-9]* step' "$logs/${failed%..*}.log" | cut -d' ' -f2)" \
            "(${done_seeds} seeds run in ${elapsed%.*} s, ${rate} seeds/s)"
        exit 1
    fi
    echo "seeds $first..$((low - 1)): no violation; ${done_seeds} seeds in ${elapsed%.*} s, ${rate} seeds/s," \
        "$(awk -v n=$((last - low + 1)) -v r="$rate" 'BEGIN { printf "%.0f", n / r }') s to go"
done
echo "simulation: $done_seeds seeds ($first..$last), no violation, ${elapsed%.*} s, ${rate} seeds/s"
