#!/usr/bin/env bash
# Recovery time of a single node for 1,000,000 stored items (issue 14): writes
# 10,000 conversations x 100 items with the store's API (no network), then reopens
# the data directory as `serve` does at start-up and prints the times.
# RECOVERY_BENCH_DIR picks the disk (default: the system's temporary directory).
# Release build; about a minute once built.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD)"
cargo test --release -p switchboard-engine --lib recovery_of_a_million_items \
    -- --ignored --nocapture 2>&1 | grep -E '^(recovery|[0-9]+ records)|test result'
