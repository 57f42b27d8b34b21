#!/usr/bin/env bash
# How often an idle Tern Mobile Node (and Home Agent) wakes up: the sum over all their threads of the
# context switches in /proc/PID/task/*/status (voluntary + nonvoluntary) across an idle window, per
# minute, and the same per thread. The issue's target for an idle MN: at most 5 a minute (keepalives
# every 25 s and the binding refresh are what it needs). Not part of CI.
#
# Environment: SECONDS_IDLE (default 300), TERN_BIN (default <repo>/.build/release/tern, built if missing),
# METRICS=1 to run both daemons with their metrics endpoint on (not scraped: an idle endpoint must not wake),
# TERN_CRYPTO_THREADS=N for tunnel.crypto-threads on both (its idle workers must not wake either).
# Root is required (namespaces, TUN). Traffic stays between the two namespaces it creates.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
SECONDS_IDLE=${SECONDS_IDLE:-300}
METRICS=${METRICS:-0}
TERN_BIN=${TERN_BIN:-$REPO_ROOT/.build/release/tern}
RUN=$$
NS_MN="tidle${RUN}-mn"
NS_HA="tidle${RUN}-ha"
WORK=$(mktemp -d /tmp/tern-idle.XXXXXX)
chmod 700 "$WORK"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$NS_MN" 2>/dev/null
    ip netns del "$NS_HA" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x "$TERN_BIN" ]; then
    (cd "$REPO_ROOT" && timeout 900 swift build -c release --product tern) >&2 || { echo "build failed" >&2; exit 1; }
fi

ip netns add "$NS_MN"
ip netns add "$NS_HA"
ip link add "ti${RUN}m" netns "$NS_MN" type veth peer name "ti${RUN}h" netns "$NS_HA"
ip -n "$NS_MN" addr add 198.18.0.2/24 dev "ti${RUN}m"
ip -n "$NS_HA" addr add 198.18.0.1/24 dev "ti${RUN}h"
for ns in "$NS_MN" "$NS_HA"; do ip -n "$ns" link set lo up; done
ip -n "$NS_MN" link set "ti${RUN}m" up
ip -n "$NS_HA" link set "ti${RUN}h" up

(umask 077; printf 'mn-to-ha-ekey: %s\nha-to-mn-ekey: %s\n' "$(openssl rand -hex 20)" "$(openssl rand -hex 20)" >"$WORK/keys.yaml")
cat >"$WORK/ha.yaml" <<CONFIG
tunnel:
  addresses: ["192.0.2.1/24"]
${TERN_CRYPTO_THREADS:+  crypto-threads: $TERN_CRYPTO_THREADS
}gateway: {forwarding: false, masquerade: false}
control-socket: $WORK/ha.sock
mobile-nodes:
  - {name: laptop, spi: 4660, keys: $WORK/keys.yaml, home-addresses: ["192.0.2.10"]}
CONFIG
cat >"$WORK/mn.yaml" <<CONFIG
home-agent: {address: 198.18.0.1}
tunnel:
  home-addresses: ["192.0.2.10"]
${TERN_CRYPTO_THREADS:+  crypto-threads: $TERN_CRYPTO_THREADS
}security-association: {spi: 4660, keys: $WORK/keys.yaml}
control-socket: $WORK/mn.sock
CONFIG
if [ "$METRICS" = 1 ]; then
    echo "metrics:" >>"$WORK/ha.yaml"
    echo "metrics:" >>"$WORK/mn.yaml"
fi
ip netns exec "$NS_HA" "$TERN_BIN" ha --config "$WORK/ha.yaml" >"$WORK/ha.log" 2>&1 & PIDS+=($!); HA_PID=$!
for _ in $(seq 100); do grep -q "home agent up" "$WORK/ha.log" && break; sleep 0.1; done
ip netns exec "$NS_MN" "$TERN_BIN" mn --config "$WORK/mn.yaml" >"$WORK/mn.log" 2>&1 & PIDS+=($!); MN_PID=$!
for _ in $(seq 100); do grep -q "registered: lifetime" "$WORK/mn.log" && grep -q "mobile node up" "$WORK/mn.log" && break; sleep 0.1; done
grep -q "registered: lifetime" "$WORK/mn.log" || { echo "the MN did not register:" >&2; cat "$WORK/mn.log" >&2; exit 1; }
sleep 2  # let start-up settle

threads() { ls /proc/"$1"/task | wc -l; }
per_thread() {  # per_thread PID: "TID NAME SWITCHES VOLUNTARY" for each of its threads
    local task
    for task in /proc/"$1"/task/*; do
        awk -v tid="${task##*/}" -v name="$(tr ' ' '_' <"$task/comm" 2>/dev/null)" '
            /^voluntary_ctxt_switches/ { voluntary = $2 } /^nonvoluntary_ctxt_switches/ { other = $2 }
            END { print tid, name, voluntary + other, voluntary + 0 }' "$task/status" 2>/dev/null
    done
}

per_thread "$MN_PID" >"$WORK/mn.before"; per_thread "$HA_PID" >"$WORK/ha.before"
echo "idle for $SECONDS_IDLE s (MN $(threads "$MN_PID") threads, HA $(threads "$HA_PID") threads)..." >&2
sleep "$SECONDS_IDLE"
per_thread "$MN_PID" >"$WORK/mn.after"; per_thread "$HA_PID" >"$WORK/ha.after"
# Per thread, and their sum: a thread started in the window counts from 0; one that ended in it is not
# counted at all (its switches left /proc with it), so the sum is a lower bound when threads come and go.
for role in mn ha; do
    echo "$role per thread (tid name: context switches, of which voluntary (the thread slept and was woken);"
    echo "  the others are preemptions while it ran, which depend on the machine's load):"
    awk 'NR == FNR { before[$1] = $3; voluntary[$1] = $4; next }
        { printf "  %s %s: %d (%d voluntary)\n", $1, $2, $3 - before[$1], $4 - voluntary[$1] }' \
        "$WORK/$role.before" "$WORK/$role.after"
    awk 'NR == FNR { before[$1] = 1; next } !($1 in before) { n++ } END { print n + 0 }' \
        "$WORK/$role.after" "$WORK/$role.before" >"$WORK/$role.ended"
done
mn=$(awk 'NR == FNR { before[$1] = $3; next } { sum += $3 - before[$1] } END { print sum + 0 }' "$WORK/mn.before" "$WORK/mn.after")
ha=$(awk 'NR == FNR { before[$1] = $3; next } { sum += $3 - before[$1] } END { print sum + 0 }' "$WORK/ha.before" "$WORK/ha.after")
awk -v mn="$mn" -v ha="$ha" -v s="$SECONDS_IDLE" -v mne="$(cat "$WORK/mn.ended")" -v hae="$(cat "$WORK/ha.ended")" 'BEGIN {
    printf "idle %d s: MN %d wake-ups (%.1f a minute), HA %d wake-ups (%.1f a minute)\n", s, mn, mn * 60 / s, ha, ha * 60 / s
    if (mne + hae > 0) printf "threads that ended in the window (not counted): MN %d, HA %d\n", mne, hae
}'
if [ "$METRICS" = 1 ]; then
    echo "of them, the metrics threads: MN $(wakeups "$WORK/mn.before" "$WORK/mn.after" tern-metrics), HA $(wakeups "$WORK/ha.before" "$WORK/ha.after" tern-metrics)"
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); tern $(git -C "$REPO_ROOT" rev-parse --short HEAD); metrics $([ "$METRICS" = 1 ] && echo on || echo off); crypto-threads ${TERN_CRYPTO_THREADS:-default}"
