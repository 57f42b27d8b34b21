#!/usr/bin/env bash
# Tern vs plain veth vs wireguard-go vs OpenVPN 2.6, measured in one run between two network namespaces
# with iperf3 and ping. See README.md beside this file for what is measured and the choices made.
#
# Environment (all optional):
#   SYSTEMS        systems to run, in order          (default: "veth wireguard-go openvpn tern")
#   SUBJECT        system whose ratios are printed   (default: tern)
#   DURATION       iperf3 -t seconds per measurement (default: 5; plus 1 s omitted warm-up for TCP)
#   PINGS          ping count                        (default: 20, at -i 0.05)
#   TERN_BIN       tern binary                       (default: <repo>/.build/release/tern)
#   TERN_BUILD_TIMEOUT  seconds for `swift build` when TERN_BIN is missing (default: 900)
#   SKIP_APT=1     do not apt-get install (the tools must already be there)
#   PIN=1          pin client-side processes to CPU 0 and server-side ones to CPU 1 (default: off)
#   RESULTS_FILE   also append the final report to this file
#   OUT_DIR        where compare-<UTC time>.json (the results) and .svg (their chart) go
#                  (default: <repo>/Benchmarks/results; the chart needs python3)
#   TERN_OFFLOADS  tunnel.offloads of both tern daemons (default: true)
#   TERN_CRYPTO_THREADS  tunnel.crypto-threads of both tern daemons (default: not set, so tern's own: 1)
#   PERF=1         record a system-wide perf profile during tern's TCP 1 stream and UDP legs (the profile
#                  text is written to the run's temp dir: use with KEEP_WORK=1)
#   HOPS=1         after each tunnel's measured ping, ping again under bpftrace and report, per ping, how
#                  often each of the tunnel's threads was scheduled in, its CPU time and its wake-up delay
#                  (Benchmarks/lib/ping_wakeups.bt; needs bpftrace, installed with the other packages)
#   KEEP_WORK=1    keep the run's temp dir (raw iperf3 JSON, daemon logs; it also holds the run's keys)
#
# Must run as root (namespaces, TUN devices). Traffic stays between the two namespaces it creates.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

SYSTEMS=${SYSTEMS:-"veth wireguard-go openvpn tern"}
SUBJECT=${SUBJECT:-tern}
DURATION=${DURATION:-5}
PINGS=${PINGS:-20}
TERN_BIN=${TERN_BIN:-$REPO_ROOT/.build/release/tern}
TERN_BUILD_TIMEOUT=${TERN_BUILD_TIMEOUT:-900}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/Benchmarks/results}
IPERF_PORT=5201
ECHO_PORT=5202
UDP_ECHO_RTT=""
IPERF_TIMEOUT=$((DURATION + 25))

# Underlay (benchmarking range 198.18.0.0/15), one veth pair, MTU 1500.
UL_SRV=198.18.0.1
UL_CLI=198.18.0.2
# Tunnel-inside addresses (documentation ranges), one set per system.
WG_SRV=198.51.100.1;  WG_CLI=198.51.100.2          # 198.51.100.0/28
OVPN_SRV=198.51.100.17; OVPN_CLI=198.51.100.18     # 198.51.100.16/28
TERN_SRV=192.0.2.1;   TERN_CLI=192.0.2.2           # 192.0.2.0/24 (HA TUN / MN home address)
TUN_MTU=1420
# PIN=1: client-namespace processes (iperf3 client, VPN client/MN) on CPU 0, server-namespace ones
# (iperf3 server, VPN server/HA) on CPU 1, via taskset (which execs, so PIDs stay the processes' own).
# Kernel work (softirq, veth) is not pinned.
if [ "${PIN:-0}" = 1 ]; then PIN_C=(taskset -c 0); PIN_S=(taskset -c 1); else PIN_C=(); PIN_S=(); fi

RUN_ID=$$
NS_C="tcmp${RUN_ID}-client"
NS_S="tcmp${RUN_ID}-server"
VETH_C="tcv${RUN_ID}c"
VETH_S="tcv${RUN_ID}s"
WG_IF_S="wgs${RUN_ID}"      # wireguard-go's UAPI socket (/var/run/wireguard/NAME.sock) is not per
WG_IF_C="wgc${RUN_ID}"      # namespace, so both names are unique per run and per side.
OVPN_IF_S="ovs${RUN_ID}"
OVPN_IF_C="ovc${RUN_ID}"

START_EPOCH=$(date +%s)
WORK=$(mktemp -d /tmp/tern-compare.XXXXXX)
chmod 700 "$WORK"
PIDS=()          # every background process this script started, stopped by PID
declare -A RES   # RES[system,metric]
declare -A NOTE  # NOTE[system] = why a row is empty

LOG_TAG=compare
# shellcheck source=../lib/common.sh
. "$SCRIPT_DIR/../lib/common.sh"   # log, loud, die, alive, stop_pid, stop_all_pids, make_pki

# ---------------------------------------------------------------- process / namespace hygiene

teardown_topology() {
    stop_all_pids
    delete_namespaces "$NS_C" "$NS_S"
    rm -f "/var/run/wireguard/$WG_IF_S.sock" "/var/run/wireguard/$WG_IF_C.sock"
}

CLEANED=0
cleanup() {
    [ "$CLEANED" = 1 ] && return
    CLEANED=1
    teardown_topology
    if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept $WORK (raw iperf3 JSON, daemon logs, keys)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

setup_topology() {
    teardown_topology
    ip netns add "$NS_C" || return 1
    ip netns add "$NS_S" || return 1
    ip link add "$VETH_C" netns "$NS_C" mtu 1500 type veth peer name "$VETH_S" netns "$NS_S" mtu 1500 || return 1
    ip -n "$NS_C" link set lo up && ip -n "$NS_S" link set lo up || return 1
    ip -n "$NS_C" addr add "$UL_CLI/24" dev "$VETH_C" || return 1
    ip -n "$NS_S" addr add "$UL_SRV/24" dev "$VETH_S" || return 1
    ip -n "$NS_C" link set "$VETH_C" up && ip -n "$NS_S" link set "$VETH_S" up || return 1
    wait_ping "$UL_CLI" "$UL_SRV" 10 || return 1
}

# Foreground only: a backgrounded function would make $! a subshell, not the process itself.
in_c() { ip netns exec "$NS_C" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

wait_ping() {  # wait_ping SRC DST TRIES  (one try per second at most)
    local src=$1 dst=$2 tries=$3 i
    for ((i = 0; i < tries; i++)); do
        timeout 3 ip netns exec "$NS_C" ping -n -c 1 -W 1 -I "$src" "$dst" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

wait_link() {  # wait_link NS IFNAME TRIES PID
    local ns=$1 ifn=$2 tries=$3 pid=$4 i
    for ((i = 0; i < tries; i++)); do
        ip -n "$ns" link show "$ifn" >/dev/null 2>&1 && return 0
        alive "$pid" || return 1
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------- measurements

fmt() { awk -v v="$1" -v p="$2" 'BEGIN { if (v == "" || v == "-") print "-"; else printf("%." p "f", v) }'; }

# PERF=1: a system-wide perf profile of tern's legs (after iperf3's 1 s warm-up): where the time goes.
PERF_PID=""
perf_start() {  # perf_start SYSTEM OUT_DIR NAME
    PERF_PID=""
    [ "${PERF:-0}" = 1 ] && [ "$1" = tern ] && command -v perf >/dev/null || return 0
    (sleep 1.5; exec perf record -q -F 499 -g -a -o "$2/perf-$3.data" -- sleep $((DURATION - 1))) >"$2/perf-$3.err" 2>&1 &
    PERF_PID=$!
}
perf_stop() {  # perf_stop SYSTEM OUT_DIR NAME
    [ -n "$PERF_PID" ] || return 0
    wait "$PERF_PID" 2>/dev/null
    PERF_PID=""
    perf report -q -i "$2/perf-$3.data" --no-children --sort comm,dso,sym -g none --percent-limit 0.4 2>/dev/null \
        | grep -v '^$' | head -80 >"$2/perf-$3.txt"
    perf report -q -i "$2/perf-$3.data" --no-children --sort comm -g none --percent-limit 0.5 2>/dev/null \
        | grep -v '^$' >"$2/perf-$3-threads.txt"
    log "$1: perf profile ($3): $2/perf-$3.txt (by thread: $2/perf-$3-threads.txt)"
}

# HOPS=1: a second ping run under bpftrace (the measured one runs untraced): per ping, how often each of
# the system's threads was scheduled in, how long it ran, and how long it waited from wake-up to running.
declare -A HOPS_LINES=()  # HOPS_LINES[system] = report lines (=() so that set -u accepts it empty)
hops_ping() {  # hops_ping SYSTEM OUT_DIR SERVER_ADDR CLIENT_ADDR
    local sys=$1 out=$2 srv=$3 cli=$4 threads bt_pid i seconds=$(( PINGS / 20 + 30 ))
    [ "${HOPS:-0}" = 1 ] && [ "$sys" != veth ] || return 0
    case $sys in
        tern) threads='^tern-(mn|ha)-' ;;
        wireguard-go) threads='^wireguard-go$' ;;
        openvpn) threads='^openvpn$' ;;
        *) return 0 ;;
    esac
    command -v bpftrace >/dev/null || { log "$sys: HOPS=1 but bpftrace is missing"; return 0; }
    bpftrace "$SCRIPT_DIR/../lib/ping_wakeups.bt" "$seconds" >"$out/hops.txt" 2>"$out/hops.err" &
    bt_pid=$!
    PIDS+=("$bt_pid")
    for ((i = 0; i < 100; i++)); do  # until its probes are attached (at most 10 s)
        grep -q '^Attaching' "$out/hops.txt" 2>/dev/null && break
        alive "$bt_pid" || break
        sleep 0.1
    done
    sleep 0.5
    timeout $((PINGS + 15)) ip netns exec "$NS_C" ping -n -q -c "$PINGS" -i 0.05 -W 2 -I "$cli" "$srv" \
        >"$out/ping-traced.txt" 2>&1
    kill -INT "$bt_pid" 2>/dev/null  # bpftrace prints its maps and exits
    for ((i = 0; i < 100; i++)); do alive "$bt_pid" || break; sleep 0.1; done
    stop_pid "$bt_pid"
    HOPS_LINES[$sys]=$(awk -v pings="$PINGS" -v pattern="$threads" -v sys="$sys" '
        /^@(scheduled|cpu_ns|wake_ns)\[/ {
            name = $0; sub(/^@[a-z_]+\[/, "", name); sub(/\]:.*$/, "", name)
            metric = $0; sub(/^@/, "", metric); sub(/\[.*$/, "", metric)
            value = $NF
            if (name ~ pattern || name == "ping") { v[name, metric] = value; names[name] = 1 }
        }
        END {
            for (n in names) {
                printf "%-14s %-18s %10.1f %12.1f %14.1f\n", sys, n, v[n, "scheduled"] / pings,
                    v[n, "cpu_ns"] / pings / 1000, v[n, "wake_ns"] / pings / 1000
            }
        }' "$out/hops.txt" | sort -k2)
    log "$sys: traced ping: $(awk -F'/' '/^(rtt|round-trip)/ { print $5 " ms avg" }' "$out/ping-traced.txt")"
}

# Octets the server side's tunnel device has handed to the kernel so far (0 for veth: no tunnel device).
tunnel_rx_octets() {  # tunnel_rx_octets IFNAME
    [ -n "$1" ] || { echo 0; return; }
    ip -n "$NS_S" -s -j link show "$1" 2>/dev/null | jq -r '.[0].stats64.rx.bytes // 0'
}

measure() {  # measure SYSTEM SERVER_ADDR CLIENT_ADDR [SERVER_TUNNEL_IFNAME]
    local sys=$1 srv=$2 cli=$3 tunnel_if=${4:-} out="$WORK/$1" spid i v rx_before rx_after
    mkdir -p "$out"
    ip netns exec "$NS_S" "${PIN_S[@]}" iperf3 -s -J -B "$srv" -p "$IPERF_PORT" >"$out/iperf3-server.json" 2>"$out/iperf3-server.err" &
    spid=$!
    PIDS+=("$spid")
    for ((i = 0; i < 50; i++)); do
        in_s ss -Hltn "sport = :$IPERF_PORT" 2>/dev/null | grep -q . && break
        alive "$spid" || break
        sleep 0.1
    done
    if ! alive "$spid"; then
        NOTE[$sys]="iperf3 server did not start: $(tail -n1 "$out/iperf3-server.err")"
        return 1
    fi

    log "$sys: TCP 1 stream (${DURATION} s)"
    perf_start "$sys" "$out" tcp1
    if timeout "$IPERF_TIMEOUT" ip netns exec "$NS_C" "${PIN_C[@]}" iperf3 -c "$srv" -B "$cli" -p "$IPERF_PORT" \
            -t "$DURATION" -O 1 -J >"$out/tcp1.json" 2>"$out/tcp1.err"; then
        RES[$sys,tcp1]=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out/tcp1.json")
    else
        log "$sys: TCP 1 stream failed: $(jq -r '.error? // empty' "$out/tcp1.json" 2>/dev/null) $(tail -n1 "$out/tcp1.err")"
    fi
    perf_stop "$sys" "$out" tcp1

    log "$sys: TCP 4 streams (${DURATION} s)"
    if timeout "$IPERF_TIMEOUT" ip netns exec "$NS_C" "${PIN_C[@]}" iperf3 -c "$srv" -B "$cli" -p "$IPERF_PORT" \
            -t "$DURATION" -O 1 -P 4 -J >"$out/tcp4.json" 2>"$out/tcp4.err"; then
        RES[$sys,tcp4]=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out/tcp4.json")
    else
        log "$sys: TCP 4 streams failed: $(jq -r '.error? // empty' "$out/tcp4.json" 2>/dev/null) $(tail -n1 "$out/tcp4.err")"
    fi

    # UDP: 64-octet payloads, unlimited send rate. The figure is what the *server* received:
    # (datagrams - lost) / seconds from the server's own end-of-test report (--get-server-output).
    log "$sys: UDP 64-octet packet rate (${DURATION} s)"
    perf_start "$sys" "$out" udp64
    rx_before=$(tunnel_rx_octets "$tunnel_if")
    if timeout "$IPERF_TIMEOUT" ip netns exec "$NS_C" "${PIN_C[@]}" iperf3 -c "$srv" -B "$cli" -p "$IPERF_PORT" \
            -t "$DURATION" -u -l 64 -b 0 --get-server-output -J >"$out/udp64.json" 2>"$out/udp64.err"; then
        rx_after=$(tunnel_rx_octets "$tunnel_if")
        # What the tunnel delivered, whether or not iperf3's server then read it: IPv4 + UDP + 64 octets
        # each (a few keepalive or ping octets in the window do not show at this scale).
        if [ -n "$tunnel_if" ] && [ "$rx_after" -gt "$rx_before" ] 2>/dev/null; then
            RES[$sys,udp_tunnel_pps]=$(awk -v b="$((rx_after - rx_before))" -v t="$DURATION" 'BEGIN { print b / 92 / t }')
        fi
        v=$(jq -r '(.server_output_json.end.sum // .end.sum) as $s
                   | [($s.packets - $s.lost_packets) / $s.seconds, $s.lost_percent,
                      (.end.sum.packets / .end.sum.seconds)] | @tsv' "$out/udp64.json")
        RES[$sys,udp_rx_pps]=$(cut -f1 <<<"$v")
        RES[$sys,udp_loss]=$(cut -f2 <<<"$v")
        RES[$sys,udp_tx_pps]=$(cut -f3 <<<"$v")
    else
        log "$sys: UDP failed: $(jq -r '.error? // empty' "$out/udp64.json" 2>/dev/null) $(tail -n1 "$out/udp64.err")"
    fi

    perf_stop "$sys" "$out" udp64
    log "$sys: ping x$PINGS"
    if timeout $((PINGS + 15)) ip netns exec "$NS_C" ping -n -q -c "$PINGS" -i 0.05 -W 2 -I "$cli" "$srv" \
            >"$out/ping.txt" 2>&1; then
        RES[$sys,rtt]=$(awk -F'/' '/^(rtt|round-trip)/ { print $5 }' "$out/ping.txt")
    else
        log "$sys: ping failed: $(tail -n2 "$out/ping.txt" | tr '\n' ' ')"
    fi
    hops_ping "$sys" "$out" "$srv" "$cli"

    stop_pid "$spid"
    return 0
}

# ---------------------------------------------------------------- systems

leg_veth() {
    measure veth "$UL_SRV" "$UL_CLI"
    udp_echo_floor
}

# Two processes echoing one UDP datagram over the same veth, at ping's cadence: what any user-space
# tunnel's round trip costs at least on this machine (a process woken on each side, no TUN, no crypto).
udp_echo_floor() {
    local spid v
    command -v python3 >/dev/null || { log "udp echo: python3 missing"; return 0; }
    ip netns exec "$NS_S" python3 "$SCRIPT_DIR/../lib/udp_echo.py" serve "$UL_SRV" "$ECHO_PORT" $((PINGS + 20)) &
    spid=$!
    PIDS+=("$spid")
    sleep 0.5
    if v=$(timeout $((PINGS + 15)) ip netns exec "$NS_C" python3 "$SCRIPT_DIR/../lib/udp_echo.py" probe \
            "$UL_SRV" "$ECHO_PORT" "$PINGS" 0.05); then
        UDP_ECHO_RTT=$(cut -d' ' -f1 <<<"$v")
        log "udp echo between two processes over veth: $UDP_ECHO_RTT ms avg"
    else
        log "udp echo failed: $v"
    fi
    stop_pid "$spid"
}

leg_wireguard_go() {
    local d="$WORK/wg" pid_s pid_c
    mkdir -p "$d" && chmod 700 "$d"
    (umask 077
     wg genkey >"$d/s.key" && wg pubkey <"$d/s.key" >"$d/s.pub" &&
     wg genkey >"$d/c.key" && wg pubkey <"$d/c.key" >"$d/c.pub") || return 1

    ip netns exec "$NS_S" "${PIN_S[@]}" env WG_PROCESS_FOREGROUND=1 wireguard-go "$WG_IF_S" >"$d/server.log" 2>&1 &
    pid_s=$!; PIDS+=("$pid_s")
    ip netns exec "$NS_C" "${PIN_C[@]}" env WG_PROCESS_FOREGROUND=1 wireguard-go "$WG_IF_C" >"$d/client.log" 2>&1 &
    pid_c=$!; PIDS+=("$pid_c")
    wait_link "$NS_S" "$WG_IF_S" 50 "$pid_s" || { NOTE[wireguard-go]="server: $(tail -n1 "$d/server.log")"; return 1; }
    wait_link "$NS_C" "$WG_IF_C" 50 "$pid_c" || { NOTE[wireguard-go]="client: $(tail -n1 "$d/client.log")"; return 1; }
    # The UAPI socket appears right after the link; wg fails if it is not there yet.
    local i
    for ((i = 0; i < 50; i++)); do
        [ -S "/var/run/wireguard/$WG_IF_S.sock" ] && [ -S "/var/run/wireguard/$WG_IF_C.sock" ] && break
        sleep 0.1
    done

    in_s wg set "$WG_IF_S" listen-port 51820 private-key "$d/s.key" \
        peer "$(cat "$d/c.pub")" allowed-ips "$WG_CLI/32" || return 1
    in_c wg set "$WG_IF_C" private-key "$d/c.key" \
        peer "$(cat "$d/s.pub")" allowed-ips "$WG_SRV/32" endpoint "$UL_SRV:51820" || return 1
    in_s ip addr add "$WG_SRV/28" dev "$WG_IF_S" && in_s ip link set "$WG_IF_S" mtu "$TUN_MTU" up || return 1
    in_c ip addr add "$WG_CLI/28" dev "$WG_IF_C" && in_c ip link set "$WG_IF_C" mtu "$TUN_MTU" up || return 1
    wait_ping "$WG_CLI" "$WG_SRV" 20 || { NOTE[wireguard-go]="tunnel did not pass a ping"; return 1; }
    measure wireguard-go "$WG_SRV" "$WG_CLI" "$WG_IF_S"
}

leg_openvpn() {
    local d="$WORK/ovpn" pid_s pid_c
    mkdir -p "$d" && chmod 700 "$d"
    make_pki "$d" tern-compare || { NOTE[openvpn]="openssl PKI generation failed"; return 1; }
    # Userspace data channel (--disable-dco), like wireguard-go and Tern; TLS control channel with the
    # generated PKI, data channel AES-128-GCM only, UDP, tun, tun-mtu 1420 like the other tunnels.
    local common=(--dev-type tun --proto udp --tun-mtu "$TUN_MTU" --disable-dco
                  --data-ciphers AES-128-GCM --cipher AES-128-GCM --ca "$d/ca.crt"
                  --topology p2p --verb 3 --script-security 1)
    ip netns exec "$NS_S" "${PIN_S[@]}" openvpn "${common[@]}" --dev "$OVPN_IF_S" --local "$UL_SRV" --lport 1194 --tls-server --dh none \
        --cert "$d/server.crt" --key "$d/server.key" --remote-cert-tls client \
        --ifconfig "$OVPN_SRV" "$OVPN_CLI" >"$d/server.log" 2>&1 &
    pid_s=$!; PIDS+=("$pid_s")
    ip netns exec "$NS_C" "${PIN_C[@]}" openvpn "${common[@]}" --dev "$OVPN_IF_C" --remote "$UL_SRV" 1194 --nobind --tls-client \
        --cert "$d/client.crt" --key "$d/client.key" --remote-cert-tls server \
        --ifconfig "$OVPN_CLI" "$OVPN_SRV" >"$d/client.log" 2>&1 &
    pid_c=$!; PIDS+=("$pid_c")
    local i up=0
    for ((i = 0; i < 100; i++)); do   # at most ~20 s for the TLS handshake
        if grep -q 'Initialization Sequence Completed' "$d/client.log" 2>/dev/null &&
           grep -q 'Initialization Sequence Completed' "$d/server.log" 2>/dev/null; then up=1; break; fi
        alive "$pid_s" && alive "$pid_c" || break
        sleep 0.2
    done
    if [ "$up" != 1 ]; then
        NOTE[openvpn]="no 'Initialization Sequence Completed' (see logs below)"
        log "openvpn server log tail:"; tail -n 8 "$d/server.log" >&2
        log "openvpn client log tail:"; tail -n 8 "$d/client.log" >&2
        return 1
    fi
    OVPN_CIPHER_LINE=$(grep -m1 -o "Data Channel: cipher '[^']*'" "$d/client.log" || true)
    wait_ping "$OVPN_CLI" "$OVPN_SRV" 20 || { NOTE[openvpn]="tunnel did not pass a ping"; return 1; }
    measure openvpn "$OVPN_SRV" "$OVPN_CLI" "$OVPN_IF_S"
}

tern_available() {
    [ -x "$TERN_BIN" ] && return 0
    log "tern binary not found at $TERN_BIN"
    if [ "$TERN_BIN" != "$REPO_ROOT/.build/release/tern" ]; then
        TERN_WHY="TERN_BIN=$TERN_BIN is not an executable"; return 1
    fi
    if ! grep -Eq 'name: *"tern"' "$REPO_ROOT/Package.swift" 2>/dev/null; then
        TERN_WHY="Package.swift has no product named \"tern\" yet"; return 1
    fi
    if ! command -v swift >/dev/null; then TERN_WHY="swift is not on PATH"; return 1; fi
    log "building: swift build -c release --product tern (at most ${TERN_BUILD_TIMEOUT} s)"
    if ! (cd "$REPO_ROOT" && timeout "$TERN_BUILD_TIMEOUT" swift build -c release --product tern) \
            >"$WORK/tern-build.log" 2>&1; then
        TERN_WHY="swift build failed or timed out: $(grep -m1 -E 'error:|Killed|Terminated' "$WORK/tern-build.log" | tr '\n' ' ')"
        tail -n 20 "$WORK/tern-build.log" >&2
        return 1
    fi
    [ -x "$TERN_BIN" ] || { TERN_WHY="build succeeded but $TERN_BIN is missing"; return 1; }
}

leg_tern() {
    local d="$WORK/tern" pid_s pid_c
    mkdir -p "$d" && chmod 700 "$d"
    (umask 077
     printf 'mn-to-ha-ekey: %s\nha-to-mn-ekey: %s\n' "$(openssl rand -hex 20)" "$(openssl rand -hex 20)" >"$d/keys.yaml")
    chown root:root "$d/keys.yaml" && chmod 600 "$d/keys.yaml"
    cat >"$d/ha.yaml" <<EOF
listen:
  port: 7872
tunnel:
  name: tern0
  mtu: $TUN_MTU
  addresses: ["$TERN_SRV/24"]
  offloads: ${TERN_OFFLOADS:-true}
${TERN_CRYPTO_THREADS:+  crypto-threads: $TERN_CRYPTO_THREADS
}mobile-nodes:
  - name: bench
    spi: 4660
    suite: "{13,01}"
    scope: 1
    keys: $d/keys.yaml
    home-addresses: ["$TERN_CLI"]
control-socket: $d/ha.sock
EOF
    cat >"$d/mn.yaml" <<EOF
home-agent:
  address: $UL_SRV
  port: 7872
tunnel:
  name: tern0
  mtu: $TUN_MTU
  home-addresses: ["$TERN_CLI"]
  offloads: ${TERN_OFFLOADS:-true}
${TERN_CRYPTO_THREADS:+  crypto-threads: $TERN_CRYPTO_THREADS
}  routes: ["192.0.2.0/24"]
security-association:
  spi: 4660
  suite: "{13,01}"
  scope: 1
  keys: $d/keys.yaml
control-socket: $d/mn.sock
EOF
    ip netns exec "$NS_S" "${PIN_S[@]}" "$TERN_BIN" ha --config "$d/ha.yaml" >"$d/ha.log" 2>&1 &
    pid_s=$!; PIDS+=("$pid_s")
    if ! wait_link "$NS_S" tern0 100 "$pid_s"; then
        NOTE[tern]="HA did not bring up tern0"; log "tern ha log tail:"; tail -n 10 "$d/ha.log" >&2; return 1
    fi
    ip netns exec "$NS_C" "${PIN_C[@]}" "$TERN_BIN" mn --config "$d/mn.yaml" >"$d/mn.log" 2>&1 &
    pid_c=$!; PIDS+=("$pid_c")
    if ! wait_link "$NS_C" tern0 100 "$pid_c" || ! wait_ping "$TERN_CLI" "$TERN_SRV" 30; then
        NOTE[tern]="MN tunnel did not pass a ping"
        log "tern ha log tail:"; tail -n 10 "$d/ha.log" >&2
        log "tern mn log tail:"; tail -n 10 "$d/mn.log" >&2
        return 1
    fi
    measure tern "$TERN_SRV" "$TERN_CLI" tern0
}

# ---------------------------------------------------------------- report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-";
                                          else if (a / b < 0.1) printf("%.3fx", a / b); else printf("%.2fx", a / b) }'; }

row() { printf '%-22s %12s %12s %14s %10s %10s\n' "$@"; }

report() {
    local s
    echo
    echo "== Tern comparison: $RUN_DATE, iperf3 -t $DURATION, $(nproc) CPUs, pinning $([ "${PIN:-0}" = 1 ] && echo "client CPU0/server CPU1" || echo off) =="
    row system "TCP1 Gbit/s" "TCP4 Gbit/s" "UDP64 rx kpps" "UDP loss%" "RTT ms"
    row ---------------------- ------------ ------------ -------------- ---------- ----------
    for s in $SYSTEMS; do
        if [ -n "${NOTE[$s]:-}" ] && [ -z "${RES[$s,tcp1]:-}${RES[$s,rtt]:-}" ]; then
            printf '%-22s %s\n' "$s" "${NOTE[$s]}"
            continue
        fi
        local kpps=""
        [ -n "${RES[$s,udp_rx_pps]:-}" ] && kpps=$(awk -v v="${RES[$s,udp_rx_pps]}" 'BEGIN{print v/1000}')
        row "$s" "$(fmt "${RES[$s,tcp1]:-}" 2)" "$(fmt "${RES[$s,tcp4]:-}" 2)" "$(fmt "$kpps" 1)" \
            "$(fmt "${RES[$s,udp_loss]:-}" 1)" "$(fmt "${RES[$s,rtt]:-}" 3)"
    done
    if [ -n "${RES[$SUBJECT,tcp1]:-}${RES[$SUBJECT,udp_rx_pps]:-}${RES[$SUBJECT,rtt]:-}" ]; then
        for s in $SYSTEMS; do
            [ "$s" = "$SUBJECT" ] && continue
            row "$SUBJECT / $s" "$(ratio "${RES[$SUBJECT,tcp1]:-}" "${RES[$s,tcp1]:-}")" \
                "$(ratio "${RES[$SUBJECT,tcp4]:-}" "${RES[$s,tcp4]:-}")" \
                "$(ratio "${RES[$SUBJECT,udp_rx_pps]:-}" "${RES[$s,udp_rx_pps]:-}")" "" \
                "$(ratio "${RES[$SUBJECT,rtt]:-}" "${RES[$s,rtt]:-}")"
        done
        echo "(ratios: throughput/packet rate >1 = $SUBJECT faster; RTT >1 = $SUBJECT slower)"
    else
        echo "(no $SUBJECT results: no ratio rows)"
    fi
    echo "UDP64 rx kpps = datagrams the iperf3 server received per second (sender sent, kpps:$(
        for s in $SYSTEMS; do [ -n "${RES[$s,udp_tx_pps]:-}" ] && printf ' %s %s' "$s" "$(fmt "$(awk -v v="${RES[$s,udp_tx_pps]}" 'BEGIN{print v/1000}')" 0)"; done))"
    [ -n "$UDP_ECHO_RTT" ] && echo "floor: one UDP datagram echoed between two processes over the same veth, same cadence: $(fmt "$UDP_ECHO_RTT" 3) ms avg"
    if [ "${#HOPS_LINES[@]}" -gt 0 ]; then
        echo "per ping, traced (HOPS=1, a second ping run under bpftrace; tracing adds its own cost):"
        printf '%-14s %-18s %10s %12s %14s\n' system thread "runs/ping" "CPU us/ping" "wake wait us"
        for s in $SYSTEMS; do [ -n "${HOPS_LINES[$s]:-}" ] && echo "${HOPS_LINES[$s]}"; done
    fi
    echo "UDP64 kpps the tunnel delivered into the server's namespace (its device's received octets / 92 / seconds; what iperf3's server did not read in time was dropped at its socket):$(
        for s in $SYSTEMS; do [ -n "${RES[$s,udp_tunnel_pps]:-}" ] && printf ' %s %s' "$s" "$(fmt "$(awk -v v="${RES[$s,udp_tunnel_pps]}" 'BEGIN{print v/1000}')" 1)"; done)"
    echo "tunnel MTU $TUN_MTU for every tunnel; underlay veth MTU 1500"
    [ -n "${OVPN_CIPHER_LINE:-}" ] && echo "openvpn: $OVPN_CIPHER_LINE, TLS (ECDSA P-256 PKI made for this run), DCO disabled"
    echo "loadavg at start:    $LOAD_START"
    echo "loadavg before legs: $LOAD_BEFORE"
    echo "loadavg after:       $LOAD_AFTER"
    echo "kernel: $KERNEL_LINE"
    echo "packages: $PACKAGES_LINE"
    [ -n "$TERN_LINE" ] && echo "tern: $TERN_LINE"
    echo "run took $(( $(date +%s) - START_EPOCH )) s"
}

# The run's results as JSON (the fields are in README.md beside this script), for the chart and for
# anyone who compares runs.
write_results_json() {
    local s systems="[]"
    for s in $SYSTEMS; do
        systems=$(jq -c --arg name "$s" --arg tcp1 "${RES[$s,tcp1]:-}" --arg tcp4 "${RES[$s,tcp4]:-}" \
            --arg rx "${RES[$s,udp_rx_pps]:-}" --arg tx "${RES[$s,udp_tx_pps]:-}" --arg loss "${RES[$s,udp_loss]:-}" \
            --arg rtt "${RES[$s,rtt]:-}" --arg note "${NOTE[$s]:-}" --arg tunnel "${RES[$s,udp_tunnel_pps]:-}" \
            'def num: if . == "" then null else (tonumber? // null) end;
             . + [{name: $name, tcp1_gbps: ($tcp1 | num), tcp4_gbps: ($tcp4 | num), udp_rx_pps: ($rx | num),
                   udp_tx_pps: ($tx | num), udp_tunnel_pps: ($tunnel | num), udp_loss_pct: ($loss | num), rtt_ms: ($rtt | num),
                   note: (if $note == "" then null else $note end)}]' <<<"$systems") || return 1
    done
    jq -n --arg date "$RUN_DATE" --arg duration "$DURATION" --arg pings "$PINGS" --arg cpus "$(nproc)" \
        --arg pin "${PIN:-0}" --arg mtu "$TUN_MTU" --arg subject "$SUBJECT" --arg load_start "$LOAD_START" \
        --arg load_before "$LOAD_BEFORE" --arg load_after "$LOAD_AFTER" --arg kernel "$KERNEL_LINE" \
        --arg packages "$PACKAGES_LINE" --arg tern "$TERN_LINE" --arg openvpn "${OVPN_CIPHER_LINE:-}" \
        --arg echo "$UDP_ECHO_RTT" \
        --argjson systems "$systems" \
        '{kind: "tern-compare", version: 1, date: $date, duration_s: ($duration | tonumber? // $duration),
          pings: ($pings | tonumber? // $pings), cpus: ($cpus | tonumber), pinning: ($pin == "1"),
          tunnel_mtu: ($mtu | tonumber), subject: $subject,
          load: {start: $load_start, before_legs: $load_before, after: $load_after},
          kernel: $kernel, packages: $packages, tern: $tern, openvpn: $openvpn,
          udp_echo_rtt_ms: ($echo | tonumber? // null), systems: $systems}' >"$1"
}

# ---------------------------------------------------------------- main

[ "$(id -u)" = 0 ] || die "must run as root"
LOAD_START=$(cat /proc/loadavg)

if [ "${SKIP_APT:-0}" != 1 ]; then
    log "apt-get update + install (no recommends: wireguard-tools would otherwise pull a kernel image)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >"$WORK/apt.log" 2>&1 || die "apt-get update failed: $(tail -n3 "$WORK/apt.log")"
    timeout 600 apt-get install -y -q --no-install-recommends iperf3 wireguard-go wireguard-tools openvpn \
        iproute2 iputils-ping openssl jq gawk python3 $([ "${HOPS:-0}" = 1 ] && echo bpftrace) >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install failed: $(tail -n3 "$WORK/apt.log")"
fi
for t in ip iperf3 ping jq openssl timeout; do command -v "$t" >/dev/null || die "$t missing"; done
[ -c /dev/net/tun ] || die "/dev/net/tun missing"

# Find (or build) tern before any measurement, so that a build never runs between two legs.
TERN_WHY=""
case " $SYSTEMS " in
    *" tern "*) if ! tern_available; then loud "TERN LEG SKIPPED: $TERN_WHY"; NOTE[tern]="SKIPPED: $TERN_WHY"; fi ;;
esac
LOAD_BEFORE=$(cat /proc/loadavg)

for sys in $SYSTEMS; do
    case $sys in
        veth)         fn=leg_veth ;;
        wireguard-go) fn=leg_wireguard_go; command -v wireguard-go >/dev/null || { NOTE[$sys]="SKIPPED: wireguard-go missing"; continue; } ;;
        openvpn)      fn=leg_openvpn; command -v openvpn >/dev/null || { NOTE[$sys]="SKIPPED: openvpn missing"; continue; } ;;
        tern)         fn=leg_tern; [ -n "$TERN_WHY" ] && continue ;;
        *)            die "unknown system '$sys' (known: veth wireguard-go openvpn tern)" ;;
    esac
    log "==== $sys ===="
    if ! setup_topology; then
        NOTE[$sys]="FAILED: namespace/veth setup failed"
    elif ! "$fn"; then
        NOTE[$sys]="FAILED: ${NOTE[$sys]:-setup failed}"
        log "$sys: ${NOTE[$sys]}"
    fi
    teardown_topology
done

RUN_EPOCH=$(date +%s)
RUN_DATE=$(date -u -d "@$RUN_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
LOAD_AFTER=$(cat /proc/loadavg)
KERNEL_LINE="$(uname -srm); $(openssl version)"
PACKAGES_LINE=$(dpkg-query -W -f='${Package} ${Version}; ' iperf3 wireguard-go wireguard-tools openvpn iproute2 iputils-ping 2>/dev/null)
TERN_LINE=""
# The binary's own digest and time: the checkout's HEAD need not be what the binary was built from.
[ -x "$TERN_BIN" ] && TERN_LINE="$TERN_BIN (sha256 $(sha256sum "$TERN_BIN" | cut -c1-12), built $(date -u -r "$TERN_BIN" +%FT%TZ); checkout at $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null)), $(swift --version 2>/dev/null | head -n1); offloads ${TERN_OFFLOADS:-true}, crypto-threads ${TERN_CRYPTO_THREADS:-default}"
report | tee -a "${RESULTS_FILE:-/dev/null}"

# Results file and chart beside each other: compare-<UTC time>.json and .svg.
STAMP=$(date -u -d "@$RUN_EPOCH" +%Y%m%dT%H%M%SZ)
if mkdir -p "$OUT_DIR" && write_results_json "$OUT_DIR/compare-$STAMP.json"; then
    echo "results: $OUT_DIR/compare-$STAMP.json" | tee -a "${RESULTS_FILE:-/dev/null}"
    if ! command -v python3 >/dev/null; then
        log "python3 missing: no chart"
    elif python3 "$SCRIPT_DIR/../lib/charts.py" compare "$OUT_DIR/compare-$STAMP.json" -o "$OUT_DIR/compare-$STAMP.svg"; then
        echo "chart:   $OUT_DIR/compare-$STAMP.svg" | tee -a "${RESULTS_FILE:-/dev/null}"
    else
        log "the chart failed (the results file is complete)"
    fi
else
    log "could not write the results file in $OUT_DIR"
fi
[ -n "$TERN_WHY" ] && loud "TERN LEG SKIPPED: $TERN_WHY"
exit 0
