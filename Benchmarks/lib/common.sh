# Shell helpers shared by Benchmarks/compare/compare.sh and Benchmarks/roaming/roaming.sh (sourced).
# The sourcing script sets LOG_TAG (the log prefix), RUN_ID and the array PIDS=() before using them.

log()  { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date +%T)" "$*" >&2; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' "$*" >&2; }
die()  { log "FATAL: $*"; exit 1; }

alive() { kill -0 "$1" 2>/dev/null; }

stop_pid() {  # SIGTERM, wait up to 5 s, then SIGKILL; always by PID
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "PID $pid ignored SIGTERM for 5 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

stop_all_pids() {  # every PID in PIDS, newest first
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
    PIDS=()
}

delete_namespaces() {  # delete_namespaces NS...: each that exists; a failure is logged, not fatal
    local ns
    for ns in "$@"; do
        if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then
            ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
        fi
    done
}

make_pki() {  # make_pki DIR LABEL: self-signed CA + server/client certificates (ECDSA P-256) in DIR
    local d=$1 label=${2:-tern-bench}
    (
        set -e
        cd "$d"
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=$label CA $RUN_ID" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out ca.crt 2>/dev/null
        for who in server client; do
            openssl ecparam -name prime256v1 -genkey -noout -out "$who.key" 2>/dev/null
            openssl req -new -key "$who.key" -subj "/CN=$label $who" -out "$who.csr" 2>/dev/null
            printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' \
                "$([ "$who" = server ] && echo serverAuth || echo clientAuth)" >"$who.ext"
            openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
                -extfile "$who.ext" -out "$who.crt" 2>/dev/null
        done
    )
}
