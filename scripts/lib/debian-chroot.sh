# Shell helpers for the fresh-machine checks (scripts/check-package.sh, scripts/check-fresh-machine.sh),
# sourced: a fresh Debian 12 (bookworm) root made by debootstrap, cached outside the repository, copied
# anew for every run, and entered with /proc, /sys and /dev mounted.
#
# The sourcing script calls fresh_root_enter_private_mounts first (it re-executes the script in its own
# mount namespace, so every mount made here disappears with the script even if it is killed), then
# fresh_root_make VARIANT DIR, and sets `trap fresh_root_cleanup EXIT` (after its own cleanup, if any).

FRESH_ROOT_CACHE=${TERN_CHECK_CACHE:-/var/cache/tern-check}
FRESH_ROOT_SUITE=bookworm
FRESH_ROOT_DIR=""

log() { printf '[%s %s] %s\n' "${LOG_TAG:-check}" "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# The checks' verdicts: one PASS/FAIL line per check, and report_results to end with all of them.
results=() failures=0
pass() { results+=("PASS: $*"); log "PASS: $*"; }
fail() { results+=("FAIL: $*"); log "FAIL: $*"; failures=$((failures + 1)); }
report_results() {  # report_results TITLE EXIT_STATUS: every verdict and the count; exits 1 if any failed
    echo
    echo "== $1"
    printf '%s\n' "${results[@]}"
    local passed=$((${#results[@]} - failures))
    [ "$2" -eq 0 ] || { echo "FAIL: the check stopped early (exit $2)"; failures=$((failures + 1)); }
    echo "$passed passed, $failures failed"
    [ "$failures" -eq 0 ] || exit 1
}

# Re-executes the calling script (with its arguments) in a private mount namespace, once.
fresh_root_enter_private_mounts() {
    [ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, mounts and network namespaces need it)"
    if [ -z "${TERN_CHECK_PRIVATE_MOUNTS:-}" ]; then
        export TERN_CHECK_PRIVATE_MOUNTS=1
        exec unshare --mount --propagation private bash "$0" "$@"
    fi
}

# The Debian mirror: $TERN_CHECK_MIRROR, else the one this machine's apt already uses for Debian.
fresh_root_mirror() {
    if [ -n "${TERN_CHECK_MIRROR:-}" ]; then echo "$TERN_CHECK_MIRROR"; return; fi
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list*: set TERN_CHECK_MIRROR"
    echo "${uri%/}"
}

# fresh_root_make VARIANT DIR: DIR becomes a fresh bookworm root of that debootstrap variant (minbase,
# buildd), with apt sources for bookworm, bookworm-updates and bookworm-security as a new install has.
# The first call per variant runs debootstrap (minutes, network) and keeps a tarball in the cache.
fresh_root_make() {
    local variant=$1 dir=$2 mirror tarball
    mirror=$(fresh_root_mirror)
    tarball="$FRESH_ROOT_CACHE/$FRESH_ROOT_SUITE-$variant.tar"
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    if [ ! -s "$tarball" ]; then
        local start=$SECONDS staging="$FRESH_ROOT_CACHE/staging-$variant.$$"
        mkdir -p "$FRESH_ROOT_CACHE"
        log "debootstrap --variant=$variant $FRESH_ROOT_SUITE from $mirror (first run only; cached as $tarball)"
        rm -rf "$staging"
        debootstrap --variant="$variant" "$FRESH_ROOT_SUITE" "$staging" "$mirror" >"$staging.log" 2>&1 ||
            { tail -20 "$staging.log" >&2; rm -rf "$staging"; die "debootstrap failed (log above)"; }
        tar -C "$staging" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$staging" "$staging.log"
        log "debootstrap took $((SECONDS - start)) s"
    fi
    mkdir -p "$dir"
    tar -C "$dir" -xf "$tarball"
    FRESH_ROOT_DIR=$dir
    local security=${mirror%/debian}/debian-security
    [ -n "${TERN_CHECK_SECURITY_MIRROR:-}" ] && security=$TERN_CHECK_SECURITY_MIRROR
    cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $mirror $FRESH_ROOT_SUITE main
deb $mirror $FRESH_ROOT_SUITE-updates main
deb $security $FRESH_ROOT_SUITE-security main
SOURCES
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    # apt and dpkg must not start services inside the root (policy-rc.d, as Debian's build roots do).
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
    # The root a mount point of its own: `ip netns exec` makes / a slave mount, which only a mount point
    # can be.
    mount --bind "$dir" "$dir"
    mount -t proc proc "$dir/proc"
    mount -t sysfs sysfs "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$dir/run"
}

# Runs a command inside the fresh root as root, with a plain environment.
in_root() {
    chroot "$FRESH_ROOT_DIR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# Unmounts everything below the fresh root (deepest first) and removes it unless TERN_CHECK_KEEP=1.
fresh_root_cleanup() {
    local dir=$FRESH_ROOT_DIR mountpoint
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    for mountpoint in $(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount -l "$mountpoint" 2>/dev/null || log "could not unmount $mountpoint"
    done
    if [ "${TERN_CHECK_KEEP:-0}" = 1 ]; then
        log "kept the root at $dir (TERN_CHECK_KEEP=1)"
    elif awk -v d="$dir" 'index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
        log "not removing $dir: something is still mounted below it"
    else
        rm -rf --one-file-system "$dir"
    fi
    FRESH_ROOT_DIR=""
}
