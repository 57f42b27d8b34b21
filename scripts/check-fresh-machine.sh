#!/usr/bin/env bash
# Checks that the README's two commands work on a fresh Debian 12 as written (docs/packaging.md), as root:
#
#   bash scripts/check-fresh-machine.sh [--build-tests]
#
# In a fresh bookworm root (debootstrap --variant=minbase, cached in /var/cache/tern-check) with only
# the Swift toolchain added, read-only at /opt/swift where the README expects it (this machine's), it
#   1. runs `bash scripts/demo.sh` (the first command) in a copy of this working tree: its own install
#      step, a release build, the namespaces, ping, iperf3, teardown;
#   2. runs the install step of `bash scripts/test.sh` (the second command) alone (TERN_INSTALL_ONLY=1);
#   3. with --build-tests, also `swift build --build-tests` (what test.sh does next; not `swift test`:
#      the whole suite takes long, and it runs on every CI machine anyway);
#   4. checks that every package either script names exists in bookworm.
# Where this machine resolves Swift packages from local copies (/opt/swift-packages, by git's
# url.insteadOf), the root gets the same copies and the same two lines of git configuration, since the
# project's machines resolve them that way; elsewhere SwiftPM fetches them as usual.
# Minutes: a release build inside the root. Not part of .ci/run. Ends with one PASS/FAIL line per check.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_TAG=check-fresh-machine
source scripts/lib/debian-chroot.sh
fresh_root_enter_private_mounts "$@"

build_tests=0
for argument in "$@"; do
    case "$argument" in
    --build-tests) build_tests=1 ;;
    *) die "unknown argument $argument (expected --build-tests)" ;;
    esac
done
[ -x /opt/swift/usr/bin/swift ] || die "no toolchain at /opt/swift to lend the fresh root"

work=$(mktemp -d /var/tmp/tern-check-fresh.XXXXXX)
root="$work/root"
cleanup() {
    local status=$?
    fresh_root_cleanup
    if [ "${TERN_CHECK_KEEP:-0}" = 1 ]; then log "logs kept in $work"; else rm -rf "$work"; fi
    report_results "check-fresh-machine: the README's commands on a fresh Debian 12 ($FRESH_ROOT_SUITE) with /opt/swift" "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
fresh_root_make minbase "$root"
pass "fresh bookworm root (minbase) ready in $((SECONDS - start)) s"
in_root dpkg-query -W -f '${Package}\n' | sort >"$work/fresh"

# The toolchain, read-only, and (where this machine has them) the local Swift package copies.
mkdir -p "$root/opt/swift"
mount --bind /opt/swift "$root/opt/swift" && mount -o remount,bind,ro "$root/opt/swift"
if [ -d /opt/swift-packages ] && git config --system --get-all url./opt/swift-packages/.insteadof >/dev/null; then
    mkdir -p "$root/opt/swift-packages"
    mount --bind /opt/swift-packages "$root/opt/swift-packages" && mount -o remount,bind,ro "$root/opt/swift-packages"
    { echo '[url "/opt/swift-packages/"]'
      git config --system --get-all url./opt/swift-packages/.insteadof | sed 's/^/	insteadOf = /'
    } >"$root/etc/gitconfig"
    log "Swift packages from this machine's local copies (/opt/swift-packages), as on the project's machines"
fi
if in_root /opt/swift/usr/bin/swift --version >/dev/null 2>&1; then
    log "note: the toolchain already runs in the fresh root"
else
    log "as expected: the toolchain alone does not run on a fresh Debian 12 ($(in_root /opt/swift/usr/bin/swift --version 2>&1 | head -1))"
fi

# This working tree (committed or not, without build products), as a fresh clone would have it.
mkdir -p "$root/root/tern"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$root/root/tern" -xf -

# 1. The first command, as written.
start=$SECONDS
if in_root bash -c 'cd /root/tern && bash scripts/demo.sh' >"$work/demo.log" 2>&1; then
    pass "bash scripts/demo.sh ($((SECONDS - start)) s: install, release build, tunnel, ping, iperf3, teardown)"
    grep -E '^== installing|packets transmitted|receiver$|stopped' "$work/demo.log" | sed 's/^/  demo | /' >&2
else
    tail -40 "$work/demo.log" >&2; fail "bash scripts/demo.sh (exit status above)"
fi
left=$(in_root ip netns list 2>/dev/null || true)
[ -z "$left" ] && pass "the demo left no network namespace behind" || fail "namespaces left by the demo: $left"
in_root dpkg-query -W -f '${Package}\n' | sort >"$work/after-demo"

# 2. The second command's install step.
start=$SECONDS
if in_root bash -c 'cd /root/tern && TERN_INSTALL_ONLY=1 bash scripts/test.sh' >"$work/test-install.log" 2>&1; then
    pass "TERN_INSTALL_ONLY=1 bash scripts/test.sh: installs, then swift --version runs ($((SECONDS - start)) s)"
else
    tail -30 "$work/test-install.log" >&2; fail "the install step of scripts/test.sh"
fi
log "the demo installed (with dependencies): $(comm -13 "$work/fresh" "$work/after-demo" | wc -l) packages"
log "test.sh then added: $(comm -13 "$work/after-demo" <(in_root dpkg-query -W -f '${Package}\n' | sort) | tr '\n' ' ')"

# 3. The build of every test, optionally.
if [ "$build_tests" = 1 ]; then
    start=$SECONDS
    if in_root bash -c 'cd /root/tern && PATH=/opt/swift/usr/bin:$PATH swift build --build-tests' >"$work/build-tests.log" 2>&1; then
        pass "swift build --build-tests ($((SECONDS - start)) s)"
    else
        tail -30 "$work/build-tests.log" >&2; fail "swift build --build-tests"
    fi
fi

# 4. Every package the scripts name exists in bookworm (the installs above prove it too; this says which).
names=$( (source scripts/lib/install-packages.sh
        printf '%s\n' "${toolchain_packages[@]}" "${tern_build_packages[@]}" "${tern_run_packages[@]}" "${lab_packages[@]}")
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' scripts/demo.sh scripts/test.sh | grep -E '^ *install_missing ' |
        tr -s ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vx install_missing)
missing=()
for name in $(sort -u <<<"$names"); do
    in_root apt-cache show --no-all-versions "$name" >/dev/null 2>&1 || missing+=("$name")
done
[ ${#missing[@]} -eq 0 ] && pass "every package the scripts name is in bookworm: $(sort -u <<<"$names" | tr '\n' ' ')" ||
    fail "not in bookworm: ${missing[*]}"
