#!/usr/bin/env bash
# The one-machine demo (fresh Debian 12, as root): installs what is needed, builds Tern, and runs a Home
# Agent, a Mobile Node and a correspondent host in network namespaces:
#
#   mn (198.18.0.2) ──veth── ha (198.18.0.1) ──veth── cn (198.51.100.2)
#   Home Address 192.0.2.10 / 2001:db8:1::10, tunnelled to the HA over UDP 7872 with AES-128-GCM.
#
# Shows a ping and an iperf3 throughput figure from the Mobile Node's Home Address to the correspondent,
# then stops every process it started (by PID) and removes every namespace, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/install-packages.sh
install_missing "${toolchain_packages[@]}" "${tern_build_packages[@]}" "${tern_run_packages[@]}" "${lab_packages[@]}" iperf3
use_swift

echo "== building tern (release)"
swift build -c release --product tern
tern="$(swift build -c release --show-bin-path)/tern"

id="tdemo$$"
ha="$id-ha" mn="$id-mn" cn="$id-cn"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for ns in "$mn" "$ha" "$cn"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== network namespaces $mn, $ha, $cn"
for ns in "$mn" "$ha" "$cn"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
ip link add "${id}m" netns "$mn" type veth peer name "${id}h" netns "$ha"
ip link add "${id}c" netns "$cn" type veth peer name "${id}k" netns "$ha"
ip -n "$mn" addr add 198.18.0.2/24 dev "${id}m"; ip -n "$mn" link set "${id}m" up
ip -n "$ha" addr add 198.18.0.1/24 dev "${id}h"; ip -n "$ha" link set "${id}h" up
ip -n "$ha" addr add 198.51.100.1/24 dev "${id}k"; ip -n "$ha" -6 addr add 2001:db8:2::1/64 dev "${id}k" nodad
ip -n "$ha" link set "${id}k" up
ip -n "$cn" addr add 198.51.100.2/24 dev "${id}c"; ip -n "$cn" -6 addr add 2001:db8:2::2/64 dev "${id}c" nodad
ip -n "$cn" link set "${id}c" up
ip -n "$cn" route add default via 198.51.100.1
ip -n "$cn" -6 route add default via 2001:db8:2::1
ip netns exec "$ha" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

echo "== keys and configs in $work"
umask 077
cat >"$work/keys.yaml" <<KEYS
mn-to-ha-ekey: $(openssl rand -hex 20)
ha-to-mn-ekey: $(openssl rand -hex 20)
KEYS
cat >"$work/ha.yaml" <<CONFIG
listen:
  port: 7872
tunnel:
  name: tern0
  addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
mobile-nodes:
  - name: laptop
    spi: 4660
    suite: "{13,01}"
    keys: $work/keys.yaml
    home-addresses: ["192.0.2.10", "2001:db8:1::10"]
control-socket: $work/ha.sock
CONFIG
cat >"$work/mn.yaml" <<CONFIG
home-agent:
  address: 198.18.0.1
tunnel:
  name: tern0
  home-addresses: ["192.0.2.10", "2001:db8:1::10"]
  routes: ["198.51.100.0/24", "2001:db8:2::/64"]
security-association:
  spi: 4660
  suite: "{13,01}"
  keys: $work/keys.yaml
control-socket: $work/mn.sock
CONFIG

echo "== starting the Home Agent and the Mobile Node"
ip netns exec "$ha" "$tern" ha --config "$work/ha.yaml" >"$work/ha.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q "home agent up" "$work/ha.log" && break; sleep 0.1; done
ip netns exec "$mn" "$tern" mn --config "$work/mn.yaml" >"$work/mn.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q "registered: lifetime" "$work/mn.log" && break; sleep 0.1; done
cat "$work/ha.log" "$work/mn.log"

echo "== ping from the Home Address 192.0.2.10 to the correspondent, IPv4 and IPv6"
ip netns exec "$mn" ping -c 3 -i 0.2 -W 2 198.51.100.2
ip netns exec "$mn" ping -c 3 -i 0.2 -W 2 2001:db8:2::2

echo "== iperf3, 5 s, through the tunnel"
ip netns exec "$cn" timeout 30 iperf3 -s -1 -B 198.51.100.2 >"$work/iperf-server.log" 2>&1 & pids+=($!)
sleep 0.5
ip netns exec "$mn" timeout 30 iperf3 -c 198.51.100.2 -t 5 -B 192.0.2.10 | tail -4

echo "== tern status of both daemons"
"$tern" status --socket "$work/ha.sock"
"$tern" status --socket "$work/mn.sock"

echo "== stopping"
kill -TERM "${pids[0]}" "${pids[1]}"
wait "${pids[0]}" "${pids[1]}" 2>/dev/null || true
grep -h "stopped" "$work/ha.log" "$work/mn.log"
echo "== demo done"
