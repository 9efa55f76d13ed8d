#!/usr/bin/env bash
# What an idle connection costs a node, split into its parts: one engine node
# (`--shards 1`, pinned to CPU 0) holding $IDLE_CONNS authenticated, quiet chat
# connections from the loadgen (`chat-idle`, pinned to CPU 1), measured twice in the
# same run:
#   1. pings off (`--ping-interval-ms` an hour): the CPU left is the housekeeping
#      tick's sweep over every connection slot (4 ticks/s) and nothing else;
#   2. pings every $IDLE_PING_MS ms: the sweep plus one ping/pong per connection
#      per interval.
# Reported: node CPU over $IDLE_WINDOW s in each case, the sweep's cost per slot
# visit, the ping's cost per ping, user memory (node RSS growth) and kernel memory
# (Slab + page tables from /proc/meminfo, both ends of each loopback connection, so
# halved) per connection. These feed docs/design.md's capacity estimate for a
# many-core box. Bounded in time; every process it starts is stopped by its id.
#
# Knobs: IDLE_CONNS (18000), IDLE_PING_MS (10000), IDLE_WINDOW (20), BENCH_DOC
# (docs/performance.md; - prints only), CARGO_TARGET_DIR (target). Build first:
# cargo build --release -p switchboard-engine -p switchboard-loadgen.
set -euo pipefail

cd "$(dirname "$0")/../.."
source bench/lib.sh
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
CONNS=${IDLE_CONNS:-18000}
PING_MS=${IDLE_PING_MS:-10000}
WINDOW=${IDLE_WINDOW:-20}
DOC=${BENCH_DOC:-docs/performance.md}
for bin in switchboard switchboard-loadgen; do
    [[ -x $BIN/$bin ]] || { echo "bench/idle-cost: $BIN/$bin missing (build first)" >&2; exit 2; }
done
log() { printf '[idle-cost %3ds] %s\n' "$SECONDS" "$*" >&2; }

WORK=$(mktemp -d /tmp/switchboard-idle.XXXXXX)
NODE_PID="" LOADGEN_PID=""
cleanup() {
    [[ -n $LOADGEN_PID ]] && kill_all "$LOADGEN_PID"
    [[ -n $NODE_PID ]] && kill_all "$NODE_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

meminfo_kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
kernel_kib() { echo $(($(meminfo_kib Slab) + $(meminfo_kib PageTables))); }

# measure PING_INTERVAL_MS: prints "cpu_s rss_growth_kib kernel_growth_kib pings"
measure() {
    local ping=$1 rss0 kern0 rss1 kern1 t0 t1
    taskset -c 0 "$BIN/switchboard" serve --listen 127.0.0.1:0 --shards 1 \
        --control-listen off --durability off --ebpf off --ping-interval-ms "$ping" \
        --idle-timeout-ms $((ping * 3)) --budget-connections 1000000 \
        >"$WORK/node.out" 2>"$WORK/node.err" &
    NODE_PID=$!
    local addr
    addr=$(wait_address "$WORK/node.out" "$NODE_PID" 150)
    sleep 1
    rss0=$(rss_kib "$NODE_PID") kern0=$(kernel_kib)
    taskset -c 1 "$BIN/switchboard-loadgen" chat-idle --url "ws://$addr/v1/ws" \
        --connections "$CONNS" --agent-every 10 --hold $((WINDOW + 15))s \
        --connect-timeout 120s --json >"$WORK/lg.json" 2>"$WORK/lg.err" &
    LOADGEN_PID=$!
    until grep -q 'chat-idle ready' "$WORK/lg.err"; do
        kill -0 "$LOADGEN_PID" 2>/dev/null || { cat "$WORK/lg.err" >&2; exit 1; }
        sleep 0.2
    done
    sleep 3 # the welcomes' and agents' `away` traffic settles
    rss1=$(rss_kib "$NODE_PID") kern1=$(kernel_kib)
    t0=$(cpu_ns "$NODE_PID")
    sleep "$WINDOW"
    t1=$(cpu_ns "$NODE_PID")
    wait "$LOADGEN_PID" || true
    LOADGEN_PID=""
    local pings
    pings=$(jq -r '.pings // 0' "$WORK/lg.json")
    kill_all "$NODE_PID"
    NODE_PID=""
    echo "$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.4f", d / 1e9 }') \
$((rss1 - rss0)) $((kern1 - kern0)) $pings"
}

log "pings off: $CONNS idle connections, CPU over ${WINDOW}s"
read -r CPU_OFF RSS_OFF KERN_OFF _ < <(measure 3600000)
log "cpu ${CPU_OFF}s rss +${RSS_OFF} KiB kernel +${KERN_OFF} KiB"
log "pings every ${PING_MS} ms"
read -r CPU_ON RSS_ON KERN_ON PINGS < <(measure "$PING_MS")
log "cpu ${CPU_ON}s rss +${RSS_ON} KiB kernel +${KERN_ON} KiB pings $PINGS"

OUT=$WORK/table.md
awk -v n="$CONNS" -v w="$WINDOW" -v off="$CPU_OFF" -v on="$CPU_ON" -v ping="$PING_MS" \
    -v rss="$RSS_OFF" -v kern="$KERN_OFF" -v date="$(date -u +%FT%RZ)" \
    -v commit="$(git rev-parse --short HEAD)" 'BEGIN {
    sweep_ns = off / (w * 4 * n) * 1e9
    pings = n * w / (ping / 1000)
    ping_us = (on - off) / pings * 1e6
    printf "## What an idle connection costs (bench/idle-cost/run.sh)\n\n"
    printf "%s, commit %s. One node (`--shards 1`, CPU 0), %d quiet authenticated chat connections from `switchboard-loadgen chat-idle` (CPU 1), node CPU (every thread, from schedstat) over %d s.\n\n", date, commit, n, w
    printf "| figure | value |\n|---|---:|\n"
    printf "| node CPU, pings off (the tick sweep only) | %.4f s = %.3f %% of a core |\n", off, off / w * 100
    printf "| node CPU, a ping every %d s | %.4f s = %.3f %% of a core |\n", ping / 1000, on, on / w * 100
    printf "| sweep cost per connection slot visit (4 ticks/s) | **%.1f ns** |\n", sweep_ns
    printf "| cost of one ping + pong (server side) | **%.2f µs** |\n", ping_us
    printf "| node RSS growth per connection | %.0f B |\n", rss * 1024 / n
    printf "| kernel memory (Slab + page tables) per connection, one end | %.0f B |\n", kern * 1024 / n / 2
    printf "\nCommand: `bench/idle-cost/run.sh` (IDLE_CONNS=%d IDLE_PING_MS=%d IDLE_WINDOW=%d). The kernel figure is half the growth of both ends of each loopback connection; the sweep figure is CPU with pings off divided by slot visits.\n", n, ping, w
}' >"$OUT"
cat "$OUT"
if [[ $DOC != - ]]; then
    splice "$DOC" idle-cost "$OUT"
    log "table written to $DOC"
fi
