#!/usr/bin/env python3
"""Paired-window statistics for bench/echo-independent.

Reads the windows as TSV on stdin (client, connections, round, server, msgs/s,
msgs per server CPU-second, server CPU share, client CPU share) and prints one
markdown row per (client, connections): the per-round ratios of messages per
server CPU-second, engine over each baseline, as median with a 95 % bootstrap
interval of the median (5,000 resamples of the rounds, fixed seed) and geometric
mean, and the means of the figures behind them.
"""
import math
import random
import statistics
import sys
from collections import defaultdict

ENGINE = "switchboard"
BASELINES = ("tokio", "fastwebsockets")
RESAMPLES = 5000
CLIENT_NAMES = {
    "independent": "echo-client (tokio-tungstenite)",
    "io-uring": "loadgen `--io-uring`",
}


def bootstrap_median(ratios, rng):
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(RESAMPLES)
    )
    return medians[int(0.025 * RESAMPLES)], medians[int(0.975 * RESAMPLES) - 1]


def ratio_cell(rounds, baseline, rng):
    ratios = [r[ENGINE][1] / r[baseline][1] for r in rounds if r[baseline][1] > 0]
    if not ratios:
        return "–"
    low, high = bootstrap_median(ratios, rng)
    geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    return f"**{statistics.median(ratios):.3f}** ({low:.3f}–{high:.3f}; geo {geo:.3f})"


def main():
    windows = defaultdict(dict)
    for line in sys.stdin:
        fields = line.split()
        if len(fields) != 8:
            continue
        client, conns, rnd, server = fields[:4]
        figures = tuple(float(x) for x in fields[4:])
        windows[(client, int(conns), int(rnd))][server] = figures
    cases = defaultdict(list)
    for (client, conns, _), by_server in sorted(windows.items()):
        if all(s in by_server for s in (ENGINE, *BASELINES)):
            cases[(client, conns)].append(by_server)
    rng = random.Random(20)
    for (client, conns), rounds in sorted(cases.items()):
        mean = lambda server, k: statistics.fmean(r[server][k] for r in rounds)
        cells = [
            CLIENT_NAMES.get(client, client),
            f"{conns:,}",
            str(len(rounds)),
            ratio_cell(rounds, "tokio", rng),
            ratio_cell(rounds, "fastwebsockets", rng),
            " / ".join(f"{mean(s, 1):,.0f}" for s in (ENGINE, *BASELINES)),
            " / ".join(f"{mean(s, 0):,.0f}" for s in (ENGINE, *BASELINES)),
            " / ".join(f"{mean(s, 2):.2f}" for s in (ENGINE, *BASELINES)),
            " / ".join(f"{mean(s, 3):.2f}" for s in (ENGINE, *BASELINES)),
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
