# Shell functions the bench/echo-independent and bench/box-100k scripts share.
# Source it; it defines functions only.

# splice FILE NAME CONTENT: replaces what lies between the NAME markers in FILE with
# the file CONTENT, or appends the markers and CONTENT at the end when they are absent.
splice() {
    local file=$1 start="<!-- bench:$2:start -->" end="<!-- bench:$2:end -->" content=$3
    if [[ -f $file ]] && grep -qxF "$start" "$file" && grep -qxF "$end" "$file"; then
        awk -v s="$start" -v e="$end" -v c="$content" '
            $0 == s { print; while ((getline line < c) > 0) print line; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' "$file" >"$file.tmp"
        mv "$file.tmp" "$file"
    else
        { printf '\n%s\n' "$start"; cat "$content"; printf '%s\n' "$end"; } >>"$file"
    fi
}

# wait_address LOG PID [TRIES]: prints the first 127.0.0.1:PORT the process PID wrote
# to LOG (its `listening on` line), polling every 0.1 s; fails if it dies or is silent.
wait_address() {
    local log=$1 pid=$2 tries=${3:-100} addr
    for _ in $(seq "$tries"); do
        addr=$(grep -aoE 'listening on 127\.0\.0\.1:[0-9]+' "$log" | head -1 | cut -d' ' -f3 || true)
        [[ -n $addr ]] && { echo "$addr"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "process $pid did not report its address; its log:" >&2
    cat "$log" >&2
    return 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cpu_ticks PID: utime + stime of PID (all threads) in clock ticks.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# cpu_ns PID: time on CPU of every thread of PID in nanoseconds (schedstat: exact,
# where /proc/PID/stat counts 10 ms ticks).
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}

# rss_kib PID: VmRSS of PID in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# kill_all PID...: SIGTERM each process by its id, then waits for it (1 s, then SIGKILL).
kill_all() {
    local pid
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        { wait "$pid"; } 2>/dev/null || true
    done
}
