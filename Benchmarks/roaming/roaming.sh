#!/usr/bin/env bash
# Roaming benchmark: Tern vs wireguard-go vs OpenVPN 2.6 when the Mobile Node changes uplinks, in the
# roaming topology of the integration tests (Tests/TernIntegrationTests/RoamingTopology.swift).
# See README.md beside this file for what is measured, how, and the choices made.
#
# Environment (all optional):
#   SYSTEMS        systems, in order                 (default: "tern wireguard-go openvpn")
#   SCENARIOS      scenarios, in order               (default: "make-before-break break-before-make nat-rebinding idle")
#   HANDOVERS      handovers per scenario and system (default: 20)
#   GAP_MS         break-before-make link gap        (default: 200)
#   OVERLAP_MS     make-before-break: old link stays up this long after the move (default: 1000)
#   MAX_OUTAGE_S   wait at most this long for traffic to flow again after a move (default: 30)
#   SETTLE_S       quiet time between a recovery and the next move (default: 1)
#   IDLE_S         idle scenario: seconds without any probe traffic before the move (default: 3)
#   IDLE_TIMEOUT_S idle scenario: give up waiting for the first HA->MN datagram after this (default: 30)
#   RATE           probe datagrams per second, each direction (default: 1000)
#   TERN_BIN       tern binary                       (default: <repo>/.build/release/tern; not built here)
#   RESULTS_FILE   also append the final report to this file
#   KEEP_WORK=1    keep the run's work dir (also kept when it is under WORK_DIR)
#   WORK_DIR       parent of the run's work dir      (default: /tmp)
#   OUT_DIR        where roaming-<UTC time>.json (every handover's numbers and the timelines) and .svg
#                  (the handover timeline chart) go  (default: <repo>/Benchmarks/results)
#
# Must run as root. All traffic stays between the namespaces it creates (198.18.0.0/15 underlays,
# documentation ranges inside the tunnels). Nothing here tells any system that a move happened: the
# script only changes links, routes and the NAT's conntrack table.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
PROBE="$SCRIPT_DIR/probe.py"

SYSTEMS=${SYSTEMS:-"tern wireguard-go openvpn"}
SCENARIOS=${SCENARIOS:-"make-before-break break-before-make nat-rebinding idle"}
HANDOVERS=${HANDOVERS:-20}
GAP_MS=${GAP_MS:-200}
OVERLAP_MS=${OVERLAP_MS:-1000}
MAX_OUTAGE_S=${MAX_OUTAGE_S:-30}
SETTLE_S=${SETTLE_S:-1}
IDLE_S=${IDLE_S:-3}
IDLE_TIMEOUT_S=${IDLE_TIMEOUT_S:-30}
RATE=${RATE:-1000}
TERN_BIN=${TERN_BIN:-$REPO_ROOT/.build/release/tern}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/Benchmarks/results}
TUN_MTU=1420
PROBE_PORT=9000

# Underlay: the integration tests' roaming topology (RoamingTopology.swift).
HA_UL4=198.18.4.2
WIFI4=198.18.1.2;  WIFI_GW4=198.18.1.1;  WIFI_GW6=fd00:1::1
LTE4=198.18.2.2;   LTE_GW4=198.18.2.1;   LTE_GW6=fd00:2::1
# Tunnel-inside addresses (probe endpoints): MN side / HA side.
TERN_MN=192.0.2.10;    TERN_HA=192.0.2.1        # Tern Home Address / HA's TUN address
WG_MN=203.0.113.2;     WG_HA=203.0.113.1        # 203.0.113.0/28
OVPN_MN=203.0.113.18;  OVPN_HA=203.0.113.17     # p2p

RUN_ID=$$
P="rm${RUN_ID}"
NS_MN="$P-mn"; NS_NAT="$P-nat"; NS_R="$P-r"; NS_HA="$P-ha"
IF_WIFI="${P}w"; IF_LTE="${P}l"      # the MN's uplinks (≤ 15 characters with a PID of up to 7 digits)
WG_IF_HA="wgh${RUN_ID}"; WG_IF_MN="wgm${RUN_ID}"
OVPN_IF_HA="ovh${RUN_ID}"; OVPN_IF_MN="ovm${RUN_ID}"
TERN_IF="trn${RUN_ID}"

START_EPOCH=$(date +%s)
mkdir -p "${WORK_DIR:-/tmp}"
WORK=$(mktemp -d "${WORK_DIR:-/tmp}/tern-roaming.XXXXXX")
chmod 700 "$WORK"
CSV="$WORK/handovers.csv"
TIMELINE="$WORK/timeline.jsonl"   # per system and scenario, the median handover's datagrams over time
PIDS=()
declare -A NOTE
CUR=wifi          # the MN's current uplink

LOG_TAG=roaming
# shellcheck source=../lib/common.sh
. "$SCRIPT_DIR/../lib/common.sh"   # log, loud, die, alive, stop_pid, stop_all_pids, make_pki

# ---------------------------------------------------------------- process / namespace hygiene

teardown_topology() {
    stop_all_pids
    delete_namespaces "$NS_MN" "$NS_NAT" "$NS_R" "$NS_HA"
    rm -f "/var/run/wireguard/$WG_IF_HA.sock" "/var/run/wireguard/$WG_IF_MN.sock"
}

CLEANED=0
cleanup() {
    [ "$CLEANED" = 1 ] && return
    CLEANED=1
    teardown_topology
    if [ "${KEEP_WORK:-0}" = 1 ] || [ -n "${WORK_DIR:-}" ]; then
        rm -f "$WORK/ovpn"/*.key "$WORK/wg"/*.key "$WORK/tern/keys.yaml" 2>/dev/null   # no keys left behind
        log "kept $WORK (handovers.csv, probe logs, daemon logs)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

in_mn() { ip netns exec "$NS_MN" "$@"; }
in_ha() { ip netns exec "$NS_HA" "$@"; }

# veth pair between two namespaces with addresses on both ends, both up
link_ns() {  # NS_A IF_A V4_A V6_A NS_B IF_B V4_B V6_B
    ip link add "$2" netns "$1" type veth peer name "$6" netns "$5" || return 1
    ip -n "$1" addr add "$3" dev "$2" && ip -n "$1" -6 addr add "$4" dev "$2" nodad || return 1
    ip -n "$5" addr add "$7" dev "$6" && ip -n "$5" -6 addr add "$8" dev "$6" nodad || return 1
    ip -n "$1" link set "$2" up && ip -n "$5" link set "$6" up
}

setup_topology() {  # the integration tests' roaming topology, without the attacker and correspondent
    teardown_topology
    local ns
    for ns in "$NS_MN" "$NS_NAT" "$NS_R" "$NS_HA"; do
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 >/dev/null
    done
    # A laptop's static addresses survive its link going down (as NetworkManager re-adds them).
    in_mn sysctl -q -w net.ipv6.conf.default.keep_addr_on_down=1 net.ipv6.conf.all.keep_addr_on_down=1 >/dev/null
    for ns in "$NS_NAT" "$NS_R" "$NS_HA"; do
        ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
    done
    link_ns "$NS_MN" "$IF_WIFI" "$WIFI4/24" fd00:1::2/64 "$NS_R" "${P}rw" 198.18.1.1/24 fd00:1::1/64 || return 1
    link_ns "$NS_MN" "$IF_LTE" "$LTE4/24" fd00:2::2/64 "$NS_NAT" "${P}nl" 198.18.2.1/24 fd00:2::1/64 || return 1
    link_ns "$NS_NAT" "${P}no" 198.18.3.2/24 fd00:3::2/64 "$NS_R" "${P}rn" 198.18.3.1/24 fd00:3::1/64 || return 1
    ip -n "$NS_NAT" route add default via 198.18.3.1 && ip -n "$NS_NAT" -6 route add default via fd00:3::1 || return 1
    ip -n "$NS_R" -6 route add fd00:2::/64 via fd00:3::2 || return 1
    printf 'table ip tern_nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "%s" masquerade random\n  }\n}\n' \
        "${P}no" >"$WORK/nat.nft"
    ip netns exec "$NS_NAT" nft -f "$WORK/nat.nft" || return 1
    link_ns "$NS_R" "${P}rh" 198.18.4.1/24 fd00:4::1/64 "$NS_HA" "${P}hr" "$HA_UL4/24" fd00:4::2/64 || return 1
    ip -n "$NS_HA" route add default via 198.18.4.1 && ip -n "$NS_HA" -6 route add default via fd00:4::1 || return 1
    # The MN starts on wifi, both families; lte is down.
    ip -n "$NS_MN" link set "$IF_LTE" down
    ip -n "$NS_MN" route add default via "$WIFI_GW4" || return 1
    ip -n "$NS_MN" -6 route add default via "$WIFI_GW6" || return 1
    CUR=wifi
    local i
    for ((i = 0; i < 20; i++)); do
        timeout 3 ip netns exec "$NS_MN" ping -n -c 1 -W 1 "$HA_UL4" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------- moving the MN (links and routes only)

ifname() { [ "$1" = wifi ] && echo "$IF_WIFI" || echo "$IF_LTE"; }
other() { [ "$1" = wifi ] && echo lte || echo wifi; }

use_uplink() {  # link up, both default routes through it (as RoamingTopology.useUplink)
    local up=$1 dev gw4 gw6 i
    dev=$(ifname "$up")
    if [ "$up" = wifi ]; then gw4=$WIFI_GW4; gw6=$WIFI_GW6; else gw4=$LTE_GW4; gw6=$LTE_GW6; fi
    ip -n "$NS_MN" link set "$dev" up
    ip -n "$NS_MN" route replace default via "$gw4" dev "$dev" || log "IPv4 default via $up failed"
    # IPv6 puts the link's prefix route back a moment after link up: retry, bounded (3 s).
    for ((i = 0; i < 150; i++)); do
        ip -n "$NS_MN" -6 route replace default via "$gw6" dev "$dev" 2>/dev/null && return 0
        sleep 0.02
    done
    log "IPv6 default via $up failed for 3 s"
}

link_down() { ip -n "$NS_MN" link set "$(ifname "$1")" down; }

now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }   # wall clock, µs resolution, no fork

# Waits until both probes have received within the last 100 ms (or MAX_OUTAGE_S), then SETTLE_S.
wait_recovered() {  # DIR
    local d=$1 deadline now a b x i
    deadline=$(( $(now_ns) + MAX_OUTAGE_S * 1000000000 ))
    sleep 0.3
    for ((i = 0; i < MAX_OUTAGE_S * 20 + 20; i++)); do
        now=$(now_ns)
        a=0; b=0
        read -r a x <"$d/mn.status" 2>/dev/null
        read -r b x <"$d/ha.status" 2>/dev/null
        if (( now - ${a:-0} < 100000000 && now - ${b:-0} < 100000000 )); then break; fi
        if (( now > deadline )); then log "  no traffic both ways ${MAX_OUTAGE_S} s after the move"; break; fi
        sleep 0.05
    done
    sleep "$SETTLE_S"
}

# ---------------------------------------------------------------- probes

# start_probes DIR MN_ADDR HA_ADDR SECONDS: one probe.py per side, both directions at RATE/s
start_probes() {
    local d=$1 mn=$2 ha=$3 secs=$4
    rm -f "$d/mn.status" "$d/ha.status"
    ip netns exec "$NS_HA" python3 "$PROBE" run --bind "$ha" --port "$PROBE_PORT" --peer "$mn" --peer-port "$PROBE_PORT" \
        --rate "$RATE" --duration "$secs" --log "$d/ha" --status "$d/ha.status" 2>"$d/ha.err" &
    PROBE_HA=$!; PIDS+=("$PROBE_HA")
    ip netns exec "$NS_MN" python3 "$PROBE" run --bind "$mn" --port "$PROBE_PORT" --peer "$ha" --peer-port "$PROBE_PORT" \
        --rate "$RATE" --duration "$secs" --log "$d/mn" --status "$d/mn.status" 2>"$d/mn.err" &
    PROBE_MN=$!; PIDS+=("$PROBE_MN")
}

forget_pids() {  # drop stopped PIDs from PIDS
    local keep=() p q skip
    for p in "${PIDS[@]}"; do
        skip=0
        for q in "$@"; do [ "$p" = "$q" ] && skip=1; done
        [ "$skip" = 1 ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

stop_probes() {
    stop_pid "$PROBE_MN"; stop_pid "$PROBE_HA"
    forget_pids "$PROBE_MN" "$PROBE_HA"
}

tern_snapshot() {  # appends the MN's handover records (Tern only) to the scenario's list
    [ "$SYS" = tern ] || return 0
    jq -c '.registration.handovers // []' "$WORK/tern/mn-status.json" >>"$WORK/tern/handovers.jsonl" 2>/dev/null
}

# One scenario with the continuous probe stream: make-before-break, break-before-make, nat-rebinding.
run_stream_scenario() {
    local sc=$1 d="$WORK/$SYS/$1" i from to t0 t1 tg0 tg1 gap
    mkdir -p "$d"; : >"$d/moves.txt"
    if [ "$sc" = nat-rebinding ] && [ "$CUR" != lte ]; then   # behind the NAT first (not measured)
        use_uplink lte; sleep 0.5; link_down wifi; CUR=lte; sleep 1
    fi
    start_probes "$d" "$MN_ADDR" "$HA_ADDR" $(( HANDOVERS * (MAX_OUTAGE_S + SETTLE_S + 5) + 30 ))
    sleep 1.5
    if ! alive "$PROBE_MN" || ! alive "$PROBE_HA"; then
        log "  probe died: $(tail -n2 "$d/mn.err" "$d/ha.err" | tr '\n' ' ')"; stop_probes; return 1
    fi
    for ((i = 1; i <= HANDOVERS; i++)); do
        from=$CUR; to=$(other "$CUR"); gap=0; tg0=0; tg1=0; tdown=0
        case $sc in
            make-before-break)
                t0=$(now_ns); use_uplink "$to"; t1=$(now_ns)
                sleep "$(awk -v m="$OVERLAP_MS" 'BEGIN{print m/1000}')"
                link_down "$from"; tdown=$(now_ns); CUR=$to ;;
            break-before-make)
                t0=$(now_ns); link_down "$from"; tg0=$(now_ns); tdown=$tg0
                sleep "$(awk -v m="$GAP_MS" 'BEGIN{print m/1000}')"
                tg1=$(now_ns); use_uplink "$to"; t1=$(now_ns); gap=$GAP_MS; CUR=$to ;;
            nat-rebinding)
                from=lte; to=lte
                t0=$(now_ns); ip netns exec "$NS_NAT" conntrack -D -p udp >/dev/null 2>&1; t1=$(now_ns) ;;
        esac
        echo "move $i $t0 $t1 $gap $((tg1 - tg0)) $from $to $tdown" >>"$d/moves.txt"
        wait_recovered "$d"
        tern_snapshot
        log "  $sc $i/$HANDOVERS: $from -> $to"
    done
    echo "end $(now_ns)" >>"$d/moves.txt"
    stop_probes
    ANALYSES+=("$d $sc")
    if [ "$sc" = nat-rebinding ]; then   # back on wifi for the next scenario (not measured)
        use_uplink wifi; sleep 0.5; link_down lte; CUR=wifi; sleep 1
    fi
}

# Idle move: no probe traffic at all; the MN moves (new link up, routes, old link down, back to back);
# when the old link is down the HA-side probe starts sending 1000/s to the MN; time to the first receipt.
run_idle_scenario() {
    local sc=idle i d from to t0 t1 rx tx j
    for ((i = 1; i <= HANDOVERS; i++)); do
        d="$WORK/$SYS/idle/$i"; mkdir -p "$d"
        from=$CUR; to=$(other "$CUR")
        ip netns exec "$NS_MN" python3 "$PROBE" run --bind "$MN_ADDR" --port "$PROBE_PORT" --peer "$HA_ADDR" \
            --peer-port "$PROBE_PORT" --no-send --exit-on-first --duration $((IDLE_S + IDLE_TIMEOUT_S + 5)) \
            --log "$d/mn" 2>"$d/mn.err" &
        rx=$!; PIDS+=("$rx")
        ip netns exec "$NS_HA" python3 "$PROBE" run --bind "$HA_ADDR" --port "$PROBE_PORT" --peer "$MN_ADDR" \
            --peer-port "$PROBE_PORT" --rate "$RATE" --start-on-signal --duration $((IDLE_S + IDLE_TIMEOUT_S + 5)) \
            --log "$d/ha" 2>"$d/ha.err" &
        tx=$!; PIDS+=("$tx")
        sleep "$IDLE_S"
        t0=$(now_ns); use_uplink "$to"; link_down "$from"; t1=$(now_ns); CUR=$to
        kill -USR1 "$tx"
        echo "move $i $t0 $t1 0 0 $from $to" >>"$d/moves.txt"
        for ((j = 0; j < IDLE_TIMEOUT_S * 100; j++)); do alive "$rx" || break; sleep 0.01; done
        stop_pid "$rx"; stop_pid "$tx"
        echo "end $(now_ns)" >>"$d/moves.txt"
        forget_pids "$rx" "$tx"
        tern_snapshot
        ANALYSES+=("$d idle")
        log "  idle $i/$HANDOVERS: $from -> $to: MN probe received $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' "$d/mn.json" 2>/dev/null || echo '?') datagram(s)"
        sleep "$SETTLE_S"
    done
}

# ---------------------------------------------------------------- systems

wait_tunnel() {  # ping through the tunnel, bounded
    local i
    for ((i = 0; i < 30; i++)); do
        timeout 3 ip netns exec "$NS_MN" ping -n -c 1 -W 1 -I "$MN_ADDR" "$HA_ADDR" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

start_wireguard_go() {
    local d="$WORK/wg" pid i
    mkdir -p "$d" && chmod 700 "$d"
    (umask 077; wg genkey >"$d/h.key" && wg pubkey <"$d/h.key" >"$d/h.pub" &&
                wg genkey >"$d/m.key" && wg pubkey <"$d/m.key" >"$d/m.pub") || return 1
    ip netns exec "$NS_HA" env WG_PROCESS_FOREGROUND=1 wireguard-go "$WG_IF_HA" >"$d/ha.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    ip netns exec "$NS_MN" env WG_PROCESS_FOREGROUND=1 wireguard-go "$WG_IF_MN" >"$d/mn.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    for ((i = 0; i < 50; i++)); do
        [ -S "/var/run/wireguard/$WG_IF_HA.sock" ] && [ -S "/var/run/wireguard/$WG_IF_MN.sock" ] && break
        sleep 0.1
    done
    # Server: no endpoint for the peer (learnt from authenticated packets). Client: keepalive 25 s.
    in_ha wg set "$WG_IF_HA" listen-port 51820 private-key "$d/h.key" peer "$(cat "$d/m.pub")" allowed-ips "$WG_MN/32" || return 1
    in_mn wg set "$WG_IF_MN" private-key "$d/m.key" peer "$(cat "$d/h.pub")" allowed-ips "$WG_HA/32" \
        endpoint "$HA_UL4:51820" persistent-keepalive 25 || return 1
    in_ha ip addr add "$WG_HA/28" dev "$WG_IF_HA" && in_ha ip link set "$WG_IF_HA" mtu "$TUN_MTU" up || return 1
    in_mn ip addr add "$WG_MN/28" dev "$WG_IF_MN" && in_mn ip link set "$WG_IF_MN" mtu "$TUN_MTU" up || return 1
    MN_ADDR=$WG_MN; HA_ADDR=$WG_HA
    wait_tunnel
}

start_openvpn() {
    local d="$WORK/ovpn" pid_s pid_c i
    mkdir -p "$d/ccd" && chmod 700 "$d"
    make_pki "$d" tern-roaming || return 1
    # As compare.sh (TLS with a throwaway PKI, AES-128-GCM, userspace data channel, tun-mtu 1420), but
    # the server in server mode (--mode server via --server): there the 2.6 data channel carries a
    # peer-id (DATA_v2) and an authenticated packet from a new address/port floats the client. In p2p
    # mode (compare.sh's) 2.6.14 drops the moved client's packets ("TLS keys are out of sync") until
    # it is back at its old address. --float is also given, as the roaming guides say.
    # Server --keepalive 10 60 (pushed to the client as ping 10 / ping-restart 60); the client is a
    # roaming laptop's: --client --nobind --persist-tun --persist-key.
    printf 'ifconfig-push %s 255.255.255.240\n' "$OVPN_MN" >"$d/ccd/tern-roaming client"
    local common=(--dev-type tun --proto udp --tun-mtu "$TUN_MTU" --disable-dco
                  --data-ciphers AES-128-GCM --cipher AES-128-GCM --ca "$d/ca.crt"
                  --verb 3 --mute 10 --script-security 1)
    ip netns exec "$NS_HA" openvpn "${common[@]}" --dev "$OVPN_IF_HA" --local "$HA_UL4" --lport 1194 --float \
        --server 203.0.113.16 255.255.255.240 --topology subnet --client-config-dir "$d/ccd" \
        --keepalive 10 60 --dh none --cert "$d/server.crt" --key "$d/server.key" --remote-cert-tls client \
        >"$d/ha.log" 2>&1 &
    pid_s=$!; PIDS+=("$pid_s")
    ip netns exec "$NS_MN" openvpn "${common[@]}" --dev "$OVPN_IF_MN" --client --remote "$HA_UL4" 1194 --nobind \
        --persist-tun --persist-key --cert "$d/client.crt" --key "$d/client.key" --remote-cert-tls server \
        >"$d/mn.log" 2>&1 &
    pid_c=$!; PIDS+=("$pid_c")
    for ((i = 0; i < 100; i++)); do
        grep -q 'Initialization Sequence Completed' "$d/mn.log" 2>/dev/null && break
        alive "$pid_s" && alive "$pid_c" || break
        sleep 0.2
    done
    MN_ADDR=$OVPN_MN; HA_ADDR=$OVPN_HA
    wait_tunnel || { tail -n 5 "$d/ha.log" "$d/mn.log" >&2; return 1; }
}

start_tern() {
    local d="$WORK/tern" pid_h pid_m
    mkdir -p "$d" && chmod 700 "$d"
    [ -x "$TERN_BIN" ] || { NOTE[tern]="no tern binary at $TERN_BIN (swift build -c release --product tern)"; return 1; }
    (umask 077
     printf 'mn-to-ha-ekey: %s\nha-to-mn-ekey: %s\n' "$(openssl rand -hex 20)" "$(openssl rand -hex 20)" >"$d/keys.yaml")
    chown root:root "$d/keys.yaml" && chmod 600 "$d/keys.yaml"
    cat >"$d/ha.yaml" <<EOF
tunnel:
  name: $TERN_IF
  mtu: $TUN_MTU
  addresses: ["$TERN_HA/24", "2001:db8:1::1/64"]
status-file: $d/ha-status.json
control-socket: $d/ha.sock
mobile-nodes:
  - name: laptop
    spi: 0x5EED
    keys: $d/keys.yaml
    home-addresses: ["$TERN_MN", "2001:db8:1::10"]
EOF
    # Only the HA's IPv4 address, like the other systems' endpoints. 192.0.2.0/24 goes through the
    # tunnel (the HA's TUN address is in it); it does not contain the HA's underlay address.
    cat >"$d/mn.yaml" <<EOF
home-agent:
  addresses: ["$HA_UL4"]
tunnel:
  name: $TERN_IF
  mtu: $TUN_MTU
  home-addresses: ["$TERN_MN", "2001:db8:1::10"]
  routes: ["192.0.2.0/24"]
security-association:
  spi: 0x5EED
  keys: $d/keys.yaml
binding:
  lifetime: 600
status-file: $d/mn-status.json
control-socket: $d/mn.sock
EOF
    ip netns exec "$NS_HA" "$TERN_BIN" ha --config "$d/ha.yaml" >"$d/ha.log" 2>&1 &
    pid_h=$!; PIDS+=("$pid_h")
    sleep 0.5
    ip netns exec "$NS_MN" "$TERN_BIN" mn --config "$d/mn.yaml" >"$d/mn.log" 2>&1 &
    pid_m=$!; PIDS+=("$pid_m")
    MN_ADDR=$TERN_MN; HA_ADDR=$TERN_HA
    TERN_HANDOVERS="$d/handovers.jsonl"
    wait_tunnel || { tail -n 5 "$d/ha.log" "$d/mn.log" >&2; return 1; }
    # the probe must go through the tunnel
    local route
    route=$(in_mn ip route get "$TERN_HA" from "$TERN_MN" 2>&1)
    case $route in *"dev $TERN_IF"*) ;; *) log "route to $TERN_HA does not use $TERN_IF: $route"; return 1 ;; esac
}

# ---------------------------------------------------------------- main

[ "$(id -u)" = 0 ] || die "must run as root"
for t in ip nft conntrack python3 jq openssl awk; do command -v "$t" >/dev/null || die "$t missing"; done
[ -c /dev/net/tun ] || die "/dev/net/tun missing"
for sc in $SCENARIOS; do
    case $sc in make-before-break|break-before-make|nat-rebinding|idle) ;; *) die "unknown scenario '$sc'" ;; esac
done
LOAD_START=$(cat /proc/loadavg)
log "work dir $WORK; systems: $SYSTEMS; scenarios: $SCENARIOS; $HANDOVERS handovers each"

for SYS in $SYSTEMS; do
    TERN_HANDOVERS=""
    case $SYS in
        tern)         fn=start_tern ;;
        wireguard-go) fn=start_wireguard_go; command -v wireguard-go >/dev/null || { NOTE[$SYS]="wireguard-go missing"; continue; } ;;
        openvpn)      fn=start_openvpn; command -v openvpn >/dev/null || { NOTE[$SYS]="openvpn missing"; continue; } ;;
        *)            die "unknown system '$SYS' (known: tern wireguard-go openvpn)" ;;
    esac
    log "==== $SYS ===="
    mkdir -p "$WORK/$SYS"
    if ! setup_topology; then NOTE[$SYS]="topology setup failed"; loud "$SYS: topology setup failed"; teardown_topology; continue; fi
    if ! "$fn"; then
        NOTE[$SYS]="${NOTE[$SYS]:-tunnel did not come up}"; loud "$SYS SKIPPED: ${NOTE[$SYS]}"
        teardown_topology; continue
    fi
    ANALYSES=()
    for sc in $SCENARIOS; do
        log "-- $SYS: $sc"
        if [ "$sc" = idle ]; then run_idle_scenario; else run_stream_scenario "$sc"; fi
    done
    # Tern rewrites its status file once a second: take the last handover records, then analyse.
    [ "$SYS" = tern ] && { sleep 1.2; tern_snapshot; }
    for a in "${ANALYSES[@]}"; do
        python3 "$PROBE" analyze --dir "${a% *}" --system "$SYS" --scenario "${a##* }" --csv "$CSV" \
            --timeline "$TIMELINE" --idle-timeout "$IDLE_TIMEOUT_S" ${TERN_HANDOVERS:+--tern-handovers "$TERN_HANDOVERS"} ||
            log "analysis of ${a% *} failed"
    done
    teardown_topology
done

report() {
    echo
    echo "== Tern roaming benchmark: $RUN_DATE, $HANDOVERS handovers per scenario, $RATE datagrams/s each way, gap ${GAP_MS} ms, overlap ${OVERLAP_MS} ms =="
    python3 "$PROBE" report --csv "$CSV" --systems "$SYSTEMS" --scenarios "$SCENARIOS"
    local s
    for s in $SYSTEMS; do [ -n "${NOTE[$s]:-}" ] && echo "$s: NOT MEASURED: ${NOTE[$s]}"; done
    echo
    echo "loadavg at start: $LOAD_START"
    echo "loadavg at end:   $LOAD_END"
    echo "kernel: $KERNEL_LINE"
    echo "packages: $PACKAGES_LINE"
    echo "openvpn: $(openvpn --version 2>/dev/null | head -n1 | cut -c1-60)"
    [ -n "$TERN_LINE" ] && echo "tern: $TERN_LINE"
    echo "per-handover numbers: $CSV$( [ "${KEEP_WORK:-0}" = 1 ] || [ -n "${WORK_DIR:-}" ] || echo ' (deleted at exit: set KEEP_WORK=1 or WORK_DIR)')"
    echo "run took $(( $(date +%s) - START_EPOCH )) s"
}
RUN_EPOCH=$(date +%s)
RUN_DATE=$(date -u -d "@$RUN_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(cat /proc/loadavg)
KERNEL_LINE="$(uname -srm); $(nproc) CPUs"
PACKAGES_LINE=$(dpkg-query -W -f='${Package} ${Version}; ' wireguard-go wireguard-tools openvpn nftables conntrack 2>/dev/null)
TERN_LINE=""
[ -x "$TERN_BIN" ] && TERN_LINE="$TERN_BIN, commit $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO_ROOT" && git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes in Sources)')"
report | tee -a "${RESULTS_FILE:-/dev/null}"

# One results file (every handover's row, the timelines, the run's details) and the timeline chart
# drawn from it: roaming-<UTC time>.json and .svg.
STAMP=$(date -u -d "@$RUN_EPOCH" +%Y%m%dT%H%M%SZ)
meta=(--meta "date=$RUN_DATE" --meta "handovers=$HANDOVERS" --meta "rate=$RATE" --meta "gap_ms=$GAP_MS"
      --meta "overlap_ms=$OVERLAP_MS" --meta "load_start=$LOAD_START" --meta "load_end=$LOAD_END"
      --meta "kernel=$KERNEL_LINE" --meta "packages=$PACKAGES_LINE" --meta "tern=$TERN_LINE"
      --meta "systems=$SYSTEMS" --meta "scenarios=$SCENARIOS")
for s in $SYSTEMS; do [ -n "${NOTE[$s]:-}" ] && meta+=(--meta "note.$s=${NOTE[$s]}"); done
if mkdir -p "$OUT_DIR" &&
   python3 "$SCRIPT_DIR/../lib/charts.py" roaming-results --csv "$CSV" --timeline "$TIMELINE" "${meta[@]}" \
       -o "$OUT_DIR/roaming-$STAMP.json"; then
    echo "results: $OUT_DIR/roaming-$STAMP.json" | tee -a "${RESULTS_FILE:-/dev/null}"
    if python3 "$SCRIPT_DIR/../lib/charts.py" roaming "$OUT_DIR/roaming-$STAMP.json" -o "$OUT_DIR/roaming-$STAMP.svg"; then
        echo "chart:   $OUT_DIR/roaming-$STAMP.svg" | tee -a "${RESULTS_FILE:-/dev/null}"
    else
        log "the chart failed (the results file is complete)"
    fi
else
    log "could not write the results file in $OUT_DIR"
fi
exit 0
