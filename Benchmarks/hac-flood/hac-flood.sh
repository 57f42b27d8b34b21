#!/usr/bin/env bash
# The controller under a connection flood (issue 13, item 3), as a benchmark, not a test: a real `tern ha`
# with its controller, an attacker namespace holding 10,000 idle and slow-drip TCP connections from 100
# source addresses plus 200 garbage-TLS clients (flood.py, reconnecting whenever the controller closes
# one), and a real `tern mn` that bootstraps BOOTSTRAPS times, then stays up REKEY_SECONDS with
# `hac.sa-validity: 60` so that it re-keys under the flood. Prints the MN's exchange times (median, p95,
# max: bootstrap and re-key), the attacker's counts, the controller's counters, the HA's RSS and its log
# line count. See README.md. Root; traffic stays inside the namespaces it creates. Not part of CI.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=../lib/common.sh
source "$REPO_ROOT/Benchmarks/lib/common.sh"
LOG_TAG=hac-flood
TERN_BIN=${TERN_BIN:-$REPO_ROOT/.build/release/tern}
IDLE=${IDLE:-5000}
SLOW=${SLOW:-5000}
GARBAGE=${GARBAGE:-200}
SOURCES=${SOURCES:-100}
BOOTSTRAPS=${BOOTSTRAPS:-20}
REKEY_SECONDS=${REKEY_SECONDS:-110}
RATE=${RATE:-5000}
# 1: exempt TCP 7872 from connection tracking in the HA's namespace, as docs/hac.md recommends (the
# gateway's masquerade makes the kernel track every connection; a flood fills nf_conntrack and then
# the MN's SYNs are dropped). 0: leave it, to see that happen.
NOTRACK=${NOTRACK:-1}
RUN_ID=$$
NS_UL="thf${RUN_ID}-ul"; NS_HA="thf${RUN_ID}-ha"; NS_MN="thf${RUN_ID}-mn"; NS_ATK="thf${RUN_ID}-atk"
WORK=$(mktemp -d /tmp/tern-hac-flood.XXXXXX)
chmod 700 "$WORK"
PIDS=()
HA_PID=""

cleanup() {
    stop_all_pids
    delete_namespaces "$NS_MN" "$NS_ATK" "$NS_HA" "$NS_UL"
    if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "needs root (namespaces, TUN)"
[ "$SOURCES" -ge 1 ] && [ "$SOURCES" -le 100 ] || die "SOURCES must be 1…100 (198.18.0.100–199)"
if [ ! -x "$TERN_BIN" ]; then
    (cd "$REPO_ROOT" && timeout 900 swift build -c release --product tern) >&2 || die "build failed"
fi

# Topology: ha, mn and atk on one bridge (198.18.0.0/24), as in the integration tests.
for ns in "$NS_UL" "$NS_HA" "$NS_MN" "$NS_ATK"; do ip netns add "$ns" || die "ip netns add $ns"; done
ip -n "$NS_UL" link add br0 type bridge && ip -n "$NS_UL" link set br0 up
attach() {  # attach NS TAG ADDRESS
    ip link add "thf${RUN_ID}$2" netns "$1" type veth peer name "thf${RUN_ID}$2u" netns "$NS_UL"
    ip -n "$NS_UL" link set "thf${RUN_ID}$2u" master br0 up
    ip -n "$1" addr add "$3/24" dev "thf${RUN_ID}$2"
    ip -n "$1" link set "thf${RUN_ID}$2" up
    ip -n "$1" link set lo up
}
attach "$NS_HA" h 198.18.0.1
attach "$NS_MN" m 198.18.0.10
attach "$NS_ATK" a 198.18.0.99
SOURCE_LIST=""
for ((i = 0; i < SOURCES; i++)); do
    ip -n "$NS_ATK" addr add "198.18.0.$((100 + i))/24" dev "thf${RUN_ID}a"
    SOURCE_LIST+="${SOURCE_LIST:+,}198.18.0.$((100 + i))"
done

# Certificates (the HAC's carries the address the MN checks) and the MN's identity.
(
    cd "$WORK" && umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=hac-flood CA $RUN_ID" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out hac.key 2>/dev/null
    openssl req -new -key hac.key -subj "/CN=hac" -out hac.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:198.18.0.1\n' >hac.ext
    openssl x509 -req -in hac.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile hac.ext \
        -out hac.crt 2>/dev/null
) || die "certificates"
"$TERN_BIN" users add --database "$WORK/hac.sqlite" laptop@example.test --psk-file "$WORK/laptop.psk" >/dev/null \
    || die "tern users add"
cat >"$WORK/ha.yaml" <<YAML
tunnel:
  addresses: ["192.0.2.1/24"]
status-file: $WORK/ha-status.json
control-socket: $WORK/ha.sock
hac:
  listen: ["198.18.0.1"]
  certificate: $WORK/hac.crt
  private-key: $WORK/hac.key
  database: $WORK/hac.sqlite
  home-address-pools: ["192.0.2.0/24"]
  home-agent-addresses: ["198.18.0.1"]
  sa-validity: 60
YAML
cat >"$WORK/mn.yaml" <<YAML
hac:
  address: 198.18.0.1
  identity: laptop@example.test
  psk-file: $WORK/laptop.psk
  ca-file: $WORK/ca.crt
tunnel:
  routes: ["198.51.100.0/24"]
control-socket: $WORK/mn.sock
status-file: $WORK/mn-status.json
YAML
chmod 600 "$WORK"/*.yaml

wait_for() {  # wait_for SECONDS FILE TEXT
    local i
    for ((i = 0; i < $1 * 10; i++)); do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

ip netns exec "$NS_HA" "$TERN_BIN" ha --config "$WORK/ha.yaml" >"$WORK/ha.log" 2>&1 &
HA_PID=$!; PIDS+=("$HA_PID")
wait_for 20 "$WORK/ha.log" "home agent controller up" || die "tern ha did not start: $(tail -5 "$WORK/ha.log")"
if [ "$NOTRACK" = 1 ]; then
    ip netns exec "$NS_HA" nft -f - <<'NFT' || die "nft notrack"
table inet hacflood_notrack {
	chain prerouting { type filter hook prerouting priority raw; tcp dport 7872 notrack; }
	chain output { type filter hook output priority raw; tcp sport 7872 notrack; }
}
NFT
fi
log "HA up (PID $HA_PID); flood: $IDLE idle + $SLOW slow-drip + $GARBAGE garbage-TLS from $SOURCES addresses"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$HA_PID/status" 2>/dev/null || echo 0; }
RSS_BEFORE=$(rss_kib)
FLOOD_SECONDS=$((60 + BOOTSTRAPS * 5 + REKEY_SECONDS))
ip netns exec "$NS_ATK" python3 "$SCRIPT_DIR/flood.py" --target 198.18.0.1 --sources "$SOURCE_LIST" \
    --idle "$IDLE" --slow "$SLOW" --garbage "$GARBAGE" --rate "$RATE" --duration "$FLOOD_SECONDS" \
    --ready "$WORK/flood.ready" --stats "$WORK/flood.json" >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!; PIDS+=("$FLOOD_PID")
for ((i = 0; i < 600; i++)); do [ -e "$WORK/flood.ready" ] && break; alive "$FLOOD_PID" || break; sleep 0.1; done
[ -e "$WORK/flood.ready" ] || die "the flood did not open all its connections: $(tail -5 "$WORK/flood.log")"
sleep 5
LINES_BEFORE=$(wc -l <"$WORK/ha.log")
RSS_MAX=$(rss_kib)
( while alive "$HA_PID"; do rss_kib; sleep 1; done >"$WORK/rss.txt" ) &
PIDS+=("$!")
# The controller's open connections, every 2 s (its control socket).
( while alive "$HA_PID"; do
      "$TERN_BIN" status --json --socket "$WORK/ha.sock" 2>/dev/null \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["controller"]["open"])' 2>/dev/null
      sleep 2
  done >"$WORK/open.txt" ) &
PIDS+=("$!")
log "flood under way; $BOOTSTRAPS bootstraps"

: >"$WORK/bootstraps.txt"
: >"$WORK/registered.txt"
FAILED=0
for ((run = 1; run <= BOOTSTRAPS; run++)); do
    START=$(date +%s.%N)
    ip netns exec "$NS_MN" "$TERN_BIN" mn --config "$WORK/mn.yaml" >"$WORK/mn-$run.log" 2>&1 &
    MN_PID=$!
    if wait_for 30 "$WORK/mn-$run.log" "registered: lifetime"; then
        awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >>"$WORK/registered.txt"
        sed -n 's/.*(bootstrap exchange \([0-9.]*\) ms).*/\1/p' "$WORK/mn-$run.log" >>"$WORK/bootstraps.txt"
    else
        FAILED=$((FAILED + 1)); log "bootstrap $run failed: $(tail -2 "$WORK/mn-$run.log")"
    fi
    stop_pid "$MN_PID"
done
log "re-keys: one MN up for $REKEY_SECONDS s (sa-validity 60: a re-key at 48 s of each SA)"
ip netns exec "$NS_MN" "$TERN_BIN" mn --config "$WORK/mn.yaml" >"$WORK/mn-rekey.log" 2>&1 &
MN_PID=$!; PIDS+=("$MN_PID")
sleep "$REKEY_SECONDS"
sed -n 's/.*(rekey exchange \([0-9.]*\) ms).*/\1/p' "$WORK/mn-rekey.log" >"$WORK/rekeys.txt"
REKEY_FAILURES=$(grep -c "re-key failed\|rekey failed\|exchange with the home agent controller .* failed" "$WORK/mn-rekey.log")
CONNTRACK=$(ip netns exec "$NS_HA" sysctl -n net.netfilter.nf_conntrack_count 2>/dev/null || echo -)
STATUS=$("$TERN_BIN" status --json --socket "$WORK/ha.sock" 2>/dev/null)
stop_pid "$MN_PID"
RSS_MAX=$(sort -n "$WORK/rss.txt" | tail -1)
LINES=$(( $(wc -l <"$WORK/ha.log") - LINES_BEFORE ))
stop_pid "$FLOOD_PID"
for ((i = 0; i < 100; i++)); do [ -s "$WORK/flood.json" ] && break; sleep 0.1; done

summary() {  # summary FILE: count median p95 max (ms)
    sort -n "$1" | awk '{v[NR] = $1} END {
        if (NR == 0) { print "none"; exit }
        p95 = int(NR * 0.95 + 0.999); if (p95 > NR) p95 = NR
        printf "n=%d median %.1f ms, p95 %.1f ms, max %.1f ms", NR, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[p95], v[NR] }'
}
echo
echo "== hac-flood: $IDLE idle + $SLOW slow-drip + $GARBAGE garbage-TLS connections from $SOURCES addresses =="
echo "kernel $(uname -r), $(nproc) cores; tern $("$TERN_BIN" --version 2>/dev/null); TCP 7872 untracked: $NOTRACK"
echo "MN bootstrap exchange: $(summary "$WORK/bootstraps.txt") ($FAILED of $BOOTSTRAPS failed)"
echo "MN start to registered: $(summary "$WORK/registered.txt") (polled every 0.1 s: TUN, routes and the BU/BA too)"
echo "MN re-key exchange:    $(summary "$WORK/rekeys.txt") ($REKEY_FAILURES failed)"
echo "attacker:   $(cat "$WORK/flood.json" 2>/dev/null || echo 'no counts (flood.py did not finish)')"
echo "controller: $(printf '%s' "$STATUS" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("controller")))' 2>/dev/null)"
echo "HA RSS: $((RSS_BEFORE / 1024)) MiB before the flood, at most $((RSS_MAX / 1024)) MiB during it"
echo "controller's open connections (sampled every 2 s): $(sort -n "$WORK/open.txt" | awk '{v[NR] = $1} END { if (NR) printf "median %d, max %d", v[int((NR + 1) / 2)], v[NR]; else print "none" }')"
echo "HA log: $LINES lines during the flood; conntrack entries in the HA namespace: $CONNTRACK"
