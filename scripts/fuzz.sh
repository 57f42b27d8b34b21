#!/usr/bin/env bash
# Builds Tern's libFuzzer harnesses (Tests/Fuzz, docs/fuzzing.md) and runs them, one after another.
#
#   scripts/fuzz.sh --ci                  each harness on its committed corpus and reproducers, briefly
#                                         (corpus size + FUZZ_CI_RUNS executions; all of them < 3 min)
#   scripts/fuzz.sh --runs N [HARNESS..]  a campaign: N executions per harness
#   scripts/fuzz.sh --seconds S [HARNESS..]
#
# HARNESS is a name such as DataChannelOpen (all when none given). A campaign keeps its growing corpus
# and logs under FUZZ_WORK (default /tmp/tern-fuzz; the committed corpus is only read) and prints each
# harness's executions, cov: and ft: from libFuzzer's last line. Any crash, leak, trap or timeout fails
# the run; its input is left in FUZZ_WORK/artifacts/ (copy it to Tests/Fuzz/Regressions/<harness>/
# once the defect is fixed). Needs nothing beyond the Swift toolchain: libFuzzer and the sanitizers'
# runtimes ship in it. Run campaigns with `nice -n 19` on a shared machine. FUZZ_BIN=dir runs harnesses
# built before instead of building; FUZZ_CI_RUNS changes the --ci executions beyond the corpus;
# FUZZ_MAX_SECONDS caps each harness's --runs campaign in time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/install-packages.sh
use_swift

harnesses=(DataChannelOpen MobilityHeader HACCodec PSKExchange RouteNetlink Offload Configuration HTTPRequestHead ControlRequest)
# Longest input each harness is given: a little over the largest message its parser accepts.
max_len() {
    case "$1" in
        Offload | Configuration) echo 8192 ;;
        DataChannelOpen | HTTPRequestHead) echo 2048 ;;
        ControlRequest) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

mode=""
amount=""
selected=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ci) mode=ci ;;
        --runs) mode=runs; amount="${2:?--runs needs a number}"; shift ;;
        --seconds) mode=seconds; amount="${2:?--seconds needs a number}"; shift ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        *)
            if [[ " ${harnesses[*]} " == *" $1 "* ]]; then selected+=("$1"); else
                echo "error: unknown harness '$1' (one of: ${harnesses[*]})" >&2; exit 2
            fi ;;
    esac
    shift
done
[ -n "$mode" ] || { echo "usage: scripts/fuzz.sh --ci | --runs N | --seconds S [HARNESS...]" >&2; exit 2; }
[ ${#selected[@]} -gt 0 ] || selected=("${harnesses[@]}")

# FUZZ_BIN: run harnesses built before (a copy, so a long campaign is not rebuilt under its feet).
if [ -n "${FUZZ_BIN:-}" ]; then
    bin="$FUZZ_BIN"
else
    echo "== building the harnesses (Tests/Fuzz, -sanitize=fuzzer,address)"
    swift build -c release --package-path Tests/Fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | grep -v "Cannot export local symbol '__asan_extra_spill_area'"
    bin="$(swift build -c release --package-path Tests/Fuzz --show-bin-path)"
fi

# Swift's own crash backtracer would read the stack under AddressSanitizer and be reported itself;
# libFuzzer's handler reports the trap and saves the input instead. Leaks are checked (LeakSanitizer).
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:handle_abort=1:allocator_may_return_null=1"

work="${FUZZ_WORK:-/tmp/tern-fuzz}"
if [ "$mode" = ci ]; then work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work/artifacts" "$work/logs"

passed=0
failed=0
summary=()
for harness in "${selected[@]}"; do
    corpus="$work/corpus/$harness"
    mkdir -p "$corpus"
    # The committed seeds (and reproducers) join the working corpus; the repository is never written.
    cp -n Tests/Fuzz/Corpus/"$harness"/* "$corpus"/ 2>/dev/null || true
    regressions=(Tests/Fuzz/Regressions/"$harness"/*)
    [ -e "${regressions[0]}" ] || regressions=()
    log="$work/logs/$harness.log"
    options=(-max_len="$(max_len "$harness")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/artifacts/$harness-")
    status=0
    case "$mode" in
        ci)
            # Reproducers first, each once, then a short run from the corpus.
            if [ ${#regressions[@]} -gt 0 ]; then
                "$bin/Fuzz$harness" "${options[@]}" "${regressions[@]}" >"$log" 2>&1 || status=$?
            fi
            if [ $status = 0 ]; then
                runs=$(( $(ls "$corpus" | wc -l) + ${FUZZ_CI_RUNS:-4000} ))
                "$bin/Fuzz$harness" "${options[@]}" -runs="$runs" "$corpus" >>"$log" 2>&1 || status=$?
            fi ;;
        runs)
            # FUZZ_MAX_SECONDS: stop at that time even if the runs are not done (a campaign on a busy machine).
            [ -z "${FUZZ_MAX_SECONDS:-}" ] || options+=(-max_total_time="$FUZZ_MAX_SECONDS")
            "$bin/Fuzz$harness" "${options[@]}" -runs="$amount" "$corpus" >"$log" 2>&1 || status=$? ;;
        seconds) "$bin/Fuzz$harness" "${options[@]}" -max_total_time="$amount" "$corpus" >"$log" 2>&1 || status=$? ;;
    esac
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | tail -1)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | tail -1)"
    if [ $status = 0 ]; then
        passed=$((passed + 1))
        summary+=("$(printf '%-16s ok      %10s execs  %-9s %-9s corpus %s' "$harness" "${execs:-?}" "$cov" "$ft" "$(ls "$corpus" | wc -l)")")
    else
        failed=$((failed + 1))
        summary+=("$(printf '%-16s FAILED  (exit %s) see %s' "$harness" "$status" "$log")")
        grep -E 'ERROR|Fatal error|fuzz invariant|SUMMARY|Test unit written' "$log" | head -8 >&2 || true
        [ "$mode" = ci ] && tail -40 "$log" >&2
    fi
done

echo "== fuzz results ($mode${amount:+ $amount})"
printf '%s\n' "${summary[@]}"
ls "$work/artifacts" 2>/dev/null | sed 's/^/artifact: /'
echo "fuzz: $passed passed, $failed failed"
[ $failed = 0 ]
