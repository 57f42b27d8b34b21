#!/usr/bin/env bash
# The fresh-install check of the Debian package (docs/packaging.md), as root:
#
#   bash scripts/check-package.sh [dist/tern_<version>_<arch>.deb]
#
# Makes a fresh Debian 12 root (debootstrap --variant=minbase, cached in /var/cache/tern-check), adds
# systemd as every booted Debian 12 has it, installs the package with apt as an administrator would,
# verifies the units, then starts the installed /usr/bin/tern as a Home Agent and a Mobile Node with
# configs made from the installed examples, in network namespaces of its own (underlay 198.18.0.0/24):
#
#   mn (198.18.0.2) ──veth── ha (198.18.0.1, 198.51.100.1) ──veth── cn (198.51.100.2, no route back)
#
# pings through the tunnel, asks both daemons with `tern status`, stops them by PID, then removes and
# purges the package. systemd is not PID 1 in a chroot, so systemd does not start the units here:
# `systemd-analyze verify` and `systemd-analyze condition` check them instead, and the daemons run
# with the units' command lines. Every process it starts is stopped by PID; namespaces, mounts and the
# root go even on failure. Needs the network to a Debian mirror (the one this machine's apt uses, or
# TERN_CHECK_MIRROR). Not part of .ci/run: minutes and a mirror. Ends with one PASS/FAIL line per check.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_TAG=check-package
source scripts/lib/debian-chroot.sh
fresh_root_enter_private_mounts "$@"

deb=${1:-$(ls -t dist/tern_*.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || die "no package: run scripts/package-deb.sh first, or name the .deb"
deb=$(realpath "$deb")
version=$(dpkg-deb --field "$deb" Version)

id="tpk$$"
ha="$id-ha" mn="$id-mn" cn="$id-cn"
work=$(mktemp -d /var/tmp/tern-check-package.XXXXXX)
root="$work/root"
pids=()
check() {  # check DESCRIPTION COMMAND...: PASS or FAIL by the command's exit status; its output on a FAIL
    local description=$1; shift
    if "$@" >"$work/step.log" 2>&1; then pass "$description"; else fail "$description (output below)"; tail -15 "$work/step.log" >&2; fi
    cat "$work/step.log" >>"$work/steps.log"
}

stop_pid() {  # SIGTERM, up to 10 s, then SIGKILL; by PID only. Returns the process's exit status.
    local pid=$1 i status=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "PID $pid ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

cleanup() {
    local status=$? pid ns
    for pid in "${pids[@]}"; do stop_pid "$pid" || true; done
    if [ -n "$FRESH_ROOT_DIR" ]; then
        for ns in "$mn" "$ha" "$cn"; do
            in_root ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qx "$ns" && in_root ip netns del "$ns"
        done
    fi
    fresh_root_cleanup
    if [ "${TERN_CHECK_KEEP:-0}" = 1 ]; then log "logs kept in $work"; else rm -rf "$work"; fi
    report_results "check-package: $(basename "$deb") on a fresh Debian 12 ($FRESH_ROOT_SUITE)" "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- A fresh Debian 12 ------------------------------------------------------------------------------
start=$SECONDS
fresh_root_make minbase "$root"
pass "fresh bookworm root (minbase) ready in $((SECONDS - start)) s"
start=$SECONDS
check "apt-get update in the root" in_root apt-get update -q
# minbase is not a bootable system: add what every booted Debian 12 has and Tern's units rely on.
check "systemd installed, as on any booted Debian 12 ($((SECONDS - start)) s with the update)" \
    in_root apt-get install -y -q --no-install-recommends systemd
in_root dpkg-query -W -f '${Package}\n' | sort >"$work/before"

# --- Install as an administrator would --------------------------------------------------------------
cp "$deb" "$root/tmp/" && chmod 0644 "$root/tmp/$(basename "$deb")"
start=$SECONDS
if in_root apt-get install -y -q "/tmp/$(basename "$deb")" >"$work/install.log" 2>&1; then
    pass "apt-get install ./$(basename "$deb") ($((SECONDS - start)) s)"
else
    cat "$work/install.log" >&2; fail "apt-get install ./$(basename "$deb")"; exit 1
fi
in_root dpkg-query -W -f '${Package}\n' | sort >"$work/after"
log "the install added: $(comm -13 "$work/before" "$work/after" | tr '\n' ' ')"

check "tern --version prints $version" bash -c "[ \"\$(chroot '$root' /usr/bin/tern --version)\" = '$version' ]"
if ldd_output=$(in_root ldd /usr/bin/tern 2>&1) && ! grep -q 'not found' <<<"$ldd_output"; then
    pass "every shared library of /usr/bin/tern resolves: $(awk '{ print $1 }' <<<"$ldd_output" | tr '\n' ' ')"
else
    fail "ldd /usr/bin/tern: $ldd_output"
fi
check "/etc/tern and /var/lib/tern exist, root-only (0700)" \
    bash -c "[ \"\$(stat -c %a:%U '$root/etc/tern' '$root/var/lib/tern' | sort -u)\" = 700:root ]"
check "/etc/tern holds no config: nothing runs until the administrator writes one" \
    bash -c "[ -z \"\$(ls -A '$root/etc/tern')\" ]"
for unit in tern-ha tern-mn; do
    check "systemd-analyze verify /lib/systemd/system/$unit.service (no output, exit 0)" \
        bash -c "out=\$(chroot '$root' systemd-analyze verify /lib/systemd/system/$unit.service 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
    role=${unit#tern-}
    check "$unit's ConditionPathExists=/etc/tern/$role.yaml is false before a config exists" \
        bash -c "! chroot '$root' systemd-analyze condition ConditionPathExists=/etc/tern/$role.yaml"
done

# --- Configs from the installed examples, with keys of our own --------------------------------------
in_root cp /usr/share/doc/tern/examples/ha.yaml /usr/share/doc/tern/examples/mn.yaml /etc/tern/
sed -i 's/^\( *keys:\) keys\.example\.yaml$/\1 keys.yaml/' "$root/etc/tern/ha.yaml" "$root/etc/tern/mn.yaml"
random_key() { od -An -tx1 -N20 /dev/urandom | tr -d ' \n'; }
(umask 077 && printf 'mn-to-ha-ekey: %s\nha-to-mn-ekey: %s\n' "$(random_key)" "$(random_key)" >"$root/etc/tern/keys.yaml")
log "configs: the installed ha.yaml and mn.yaml with keys: keys.yaml (fresh random keys); nothing else changed"
for role in ha mn; do
    check "ConditionPathExists=/etc/tern/$role.yaml is true once the config is written" \
        in_root systemd-analyze condition "ConditionPathExists=/etc/tern/$role.yaml"
done
# Test tools, not dependencies of the package: sysctl and ping for the namespaces and the traffic check.
in_root apt-get install -y -q --no-install-recommends procps iputils-ping >>"$work/steps.log" 2>&1 ||
    die "cannot install procps and iputils-ping"

# --- Network namespaces inside the root, as scripts/demo.sh builds them -----------------------------
for ns in "$mn" "$ha" "$cn"; do
    in_root ip netns add "$ns"
    in_root ip -n "$ns" link set lo up
    in_root ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
in_root ip link add "${id}m" netns "$mn" type veth peer name "${id}h" netns "$ha"
in_root ip link add "${id}c" netns "$cn" type veth peer name "${id}k" netns "$ha"
in_root ip -n "$mn" addr add 198.18.0.2/24 dev "${id}m"
in_root ip -n "$ha" addr add 198.18.0.1/24 dev "${id}h"
in_root ip -n "$ha" addr add 198.51.100.1/24 dev "${id}k"
in_root ip -n "$ha" -6 addr add 2001:db8:2::1/64 dev "${id}k" nodad
in_root ip -n "$cn" addr add 198.51.100.2/24 dev "${id}c"
in_root ip -n "$cn" -6 addr add 2001:db8:2::2/64 dev "${id}c" nodad
for link in "$mn:${id}m" "$ha:${id}h" "$ha:${id}k" "$cn:${id}c"; do in_root ip -n "${link%%:*}" link set "${link#*:}" up; done
# IPv4 from the Home Addresses reaches cn only masqueraded (cn has no route back); IPv6 is routed.
in_root ip -n "$cn" -6 route add 2001:db8:1::/64 via 2001:db8:2::1

# --- Start the installed binary with the units' command lines ---------------------------------------
start_in_root() {  # start_in_root LOG COMMAND...: in the background; $! is the command itself (each exec's
    # the next: chroot, env, ip netns exec, tern), so it can be stopped by that PID.
    local log=$1; shift
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@" >"$log" 2>&1 &
}
wait_for() {  # wait_for FILE TEXT SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
start_in_root "$work/ha.log" ip netns exec "$ha" /usr/bin/tern ha --config /etc/tern/ha.yaml
pids+=($!)
if wait_for "$work/ha.log" "home agent up" 15; then pass "tern ha --config /etc/tern/ha.yaml is up (PID ${pids[0]})"; else
    cat "$work/ha.log" >&2; fail "tern ha --config /etc/tern/ha.yaml did not come up in 15 s"; exit 1; fi
start_in_root "$work/mn.log" ip netns exec "$mn" /usr/bin/tern mn --config /etc/tern/mn.yaml
pids+=($!)
if wait_for "$work/mn.log" "registered: lifetime" 15; then pass "tern mn --config /etc/tern/mn.yaml registered (PID ${pids[1]})"; else
    cat "$work/ha.log" "$work/mn.log" >&2; fail "tern mn --config /etc/tern/mn.yaml did not register in 15 s"; exit 1; fi
check "the running daemons are the installed /usr/bin/tern" \
    bash -c "[ \"\$(readlink /proc/${pids[0]}/exe)\" = '$root/usr/bin/tern' ] && [ \"\$(readlink /proc/${pids[1]}/exe)\" = '$root/usr/bin/tern' ]"

check "ping through the tunnel and the HA's masquerade to 198.51.100.2" \
    in_root ip netns exec "$mn" ping -c 3 -i 0.2 -W 2 198.51.100.2
check "ping6 through the tunnel to 2001:db8:2::2" \
    in_root ip netns exec "$mn" ping -c 3 -i 0.2 -W 2 2001:db8:2::2
if out=$(in_root /usr/bin/tern status 2>&1) && grep -q laptop <<<"$out"; then
    pass "tern status (the HA's control socket, /run/tern/ha.sock) names the binding of laptop"
else fail "tern status: $out"; fi
if out=$(in_root /usr/bin/tern status --json --socket /run/tern/mn.sock 2>&1) &&
    python3 -c 'import json, sys; json.load(sys.stdin)' <<<"$out"; then
    pass "tern status --json --socket /run/tern/mn.sock parses as JSON"
else fail "tern status --json --socket /run/tern/mn.sock: $out"; fi
check "both daemons write the status files the examples name (/run/tern/ha-status.json, mn-status.json)" \
    test -s "$root/run/tern/ha-status.json" -a -s "$root/run/tern/mn-status.json"
check "the HA's masquerade table exists while it runs" \
    bash -c "chroot '$root' ip netns exec '$ha' nft list tables | grep -q tern"

# --- Stop by PID, then remove and purge --------------------------------------------------------------
for index in 1 0; do
    role=$([ "$index" = 0 ] && echo ha || echo mn)
    if stop_pid "${pids[$index]}"; then pass "tern $role stopped on SIGTERM with exit status 0"; else
        fail "tern $role exit status $? after SIGTERM"; tail -20 "$work/$role.log" >&2; fi
done
pids=()
check "the HA removed its nftables table on exit" \
    bash -c "! chroot '$root' ip netns exec '$ha' nft list tables | grep -q tern"
check "apt-get remove tern keeps /etc/tern and /var/lib/tern" \
    bash -c "chroot '$root' apt-get remove -y -q tern && [ ! -e '$root/usr/bin/tern' ] && [ -f '$root/etc/tern/ha.yaml' ] && [ -d '$root/var/lib/tern' ]"
check "apt-get purge tern deletes /var/lib/tern and keeps the administrator's /etc/tern files" \
    bash -c "chroot '$root' apt-get purge -y -q tern && [ ! -e '$root/var/lib/tern' ] && [ -f '$root/etc/tern/keys.yaml' ]"
log "daemon logs:"
sed 's/^/  ha | /' "$work/ha.log" >&2
sed 's/^/  mn | /' "$work/mn.log" >&2
