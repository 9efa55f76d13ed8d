#!/usr/bin/env bash
# History that grows without stalls (issue 20): one engine node (`--shards 1`, CPU 0)
# and the independent chat client (`chat-client`, tokio-tungstenite, CPU 1): 1,000
# visitors and 20 agents, lines visitor → agent at each rate of $HG_RATES for
# $HG_DURATION. At 30,000 lines/s each conversation gains 30 items a second, so every
# history crosses 128, 256 and 512 items at about the same moment — where a history
# that grew by doubling and copying made the shard stall. Reported per rate: delivery
# p50/p99/p99.9/max, the p99 of each 500 ms slice (median and largest: a stall shows as
# one slice far above the others), server CPU share, RSS before and at its peak, and
# loss/duplicates/order (all zero). Every process it starts is stopped by its id.
#
# Knobs: HG_RATES ("15000 30000"), HG_DURATION (20s), HG_VISITORS (1000), HG_AGENTS
# (20), HG_ROUNDS (1), HG_OUT (keep each run's JSON there), BENCH_DOC (docs/performance.md; - prints only),
# CARGO_TARGET_DIR (target). Build first: cargo build --release -p switchboard-engine
# -p switchboard-bench.
set -euo pipefail

cd "$(dirname "$0")/../.."
source bench/lib.sh
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
read -r -a RATES <<<"${HG_RATES:-15000 30000}"
DURATION=${HG_DURATION:-20s}
VISITORS=${HG_VISITORS:-1000}
AGENTS=${HG_AGENTS:-20}
ROUNDS=${HG_ROUNDS:-1}
DOC=${BENCH_DOC:-docs/performance.md}
for bin in switchboard chat-client; do
    [[ -x $BIN/$bin ]] || { echo "bench/history-growth: $BIN/$bin missing (build first)" >&2; exit 2; }
done
log() { printf '[history-growth %3ds] %s\n' "$SECONDS" "$*" >&2; }

WORK=$(mktemp -d /tmp/switchboard-hg.XXXXXX)
NODE_PID=""
cleanup() {
    [[ -n $NODE_PID ]] && kill_all "$NODE_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROWS=$WORK/rows.md
: >"$ROWS"
for round in $(seq "$ROUNDS"); do
    for rate in "${RATES[@]}"; do
        taskset -c 0 "$BIN/switchboard" serve --listen 127.0.0.1:0 --shards 1 --cpus 0 \
            --control-listen off --durability off --ebpf off \
            >"$WORK/node.out" 2>"$WORK/node.err" &
        NODE_PID=$!
        addr=$(wait_address "$WORK/node.out" "$NODE_PID" 150)
        log "round $round, $rate lines/s"
        taskset -c 1 "$BIN/chat-client" --url "ws://$addr/v1/ws" --visitors "$VISITORS" \
            --agents "$AGENTS" --rate "$rate" --duration "$DURATION" --drain 3s \
            --prefix "hg$round-$rate-" --server-pid "$NODE_PID" --json >"$WORK/cc.json" || true
        kill_all "$NODE_PID"
        NODE_PID=""
        [[ -n ${HG_OUT:-} ]] && mkdir -p "$HG_OUT" && cp "$WORK/cc.json" "$HG_OUT/$round-$rate.json"
        jq -c '{rate, sent, lost, duplicated, out_of_order, delivery_ms, slice_p99_median_ms, slice_p99_max_ms}' "$WORK/cc.json" >&2
        jq -r --arg round "$round" '"| \(.rate) | \($round) | \(.sent) | \(.lost) / \(.duplicated) / \(.out_of_order) | \(.delivery_ms.p50) | **\(.delivery_ms.p99)** | \(.delivery_ms.p999) | \(.delivery_ms.max) | \(.slice_p99_median_ms) | \(.slice_p99_max_ms) | \((.slice_p99_max_ms / (if .slice_p99_median_ms > 0 then .slice_p99_median_ms else 1 end)) * 100 | round / 100) | \(. as $r | [128, 256, 512] | map(. as $b | ($b / ($r.rate / $r.visitors) * 1000 / $r.slice_ms | floor) as $i | if $i + 1 < ($r.slice_p99_ms | length) then ([$r.slice_p99_ms[([$i - 1, 0] | max):($i + 2)][]] | max) / $r.slice_p99_median_ms * 100 | round / 100 | tostring else "–" end) | join(" / ")) | \((.server_cpu_seconds / .seconds) * 100 | round / 100) | \(.server_rss_kib.at_start / 1024 | round) → \(.server_rss_kib.max / 1024 | round) |"' \
            "$WORK/cc.json" >>"$ROWS"
    done
done

OUT=$WORK/table.md
{
    echo "## History that grows without stalls (bench/history-growth/run.sh)"
    echo
    echo "$(date -u +%FT%RZ), commit $(git rev-parse --short HEAD), $(nproc) CPUs shared with other work; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "One node (\`--shards 1 --durability off\`, CPU 0); the independent \`chat-client\` (tokio-tungstenite, CPU 1): $VISITORS visitors, $AGENTS agents, lines visitor → agent for $DURATION, each timed from its send to its delivery at the agent. At 30,000 lines/s every conversation gains 30 items a second, so all histories cross 128, 256 and 512 items within the same second. Latencies in ms; slice = the p99 of the lines sent in each 500 ms; a crossing is the largest slice p99 within one slice of the moment every history reaches 128, 256 or 512 lines (– : not reached in the run)."
    echo
    echo "| lines/s | round | lines | lost / dup / reordered | p50 | p99 | p99.9 | max | slice p99 median | slice p99 max | max / median | at the 128 / 256 / 512 crossings, ÷ median | server CPU (share of a core, per s) | server RSS MiB start → peak |"
    echo "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
    cat "$ROWS"
    echo
    echo "Command: \`bench/history-growth/run.sh\` (HG_RATES=\"${RATES[*]}\" HG_DURATION=$DURATION HG_ROUNDS=$ROUNDS):"
    echo
    echo '```sh'
    echo "taskset -c 0 target/release/switchboard serve --listen 127.0.0.1:0 --shards 1 --cpus 0 --control-listen off --durability off --ebpf off"
    echo "taskset -c 1 target/release/chat-client --url ws://ADDR/v1/ws --visitors $VISITORS --agents $AGENTS --rate RATE --duration $DURATION --drain 3s --server-pid PID --json"
    echo '```'
} >"$OUT"
cat "$OUT"
if [[ $DOC != - ]]; then
    splice "$DOC" history-growth "$OUT"
    log "table written to $DOC"
fi
