#!/usr/bin/env python3
"""Idle memory of TLS connections: the server's RSS growth per idle connection with N
`wss://` connections (on each of rustls's APIs, `--tls-api`) against N plain `ws://`
ones, on the same release binary.

    bench/tls-idle/run.py [--connections 4000] [--bin target/release/switchboard]
                          [--io-driver io-uring] [--python-client-cpu 1]

For each mode it starts `switchboard serve` on a free loopback port (TLS with a test
CA made by `openssl` in a temporary directory), reads VmRSS, opens N connections to
/echo with Python `websockets` (a client written by others, one echo each so every
connection has been through its handshake and a data message), waits for the server
to settle, reads VmRSS again, closes everything and stops the server. Prints a table
and, with --json, one JSON line. Needs `websockets` (tests/run-all's venv has it)."""

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time

import websockets


# Plain ws, then wss on each of rustls's APIs (`--tls-api`).
MODES = ("ws", "wss-unbuffered", "wss-buffered")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def make_pki(directory):
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bench CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(directory, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "ext", "-out", "srv.pem")
    return [os.path.join(directory, n) for n in ("ca.pem", "srv.pem", "srv.key")]


def start_server(binary, extra):
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--control-listen", "off", "--shards", "1",
         "--ebpf", "off", "--log-level", "warn", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc, int(line.split()[2].rsplit(":", 1)[1])
    raise RuntimeError("server did not start")


async def hold(url, count, ctx, settle):
    sem = asyncio.Semaphore(200)
    conns = []

    async def one():
        async with sem:
            ws = await websockets.connect(url, ssl=ctx, open_timeout=30, ping_interval=None,
                                          max_size=None)
            await ws.send("x")
            await ws.recv()
            conns.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(settle)
    return conns


def measure(binary, count, driver, mode, pki, settle):
    extra = ["--io-driver", driver]
    tls = mode != "ws"
    if tls:
        api = mode.split("-", 1)[1]
        extra += ["--tls-cert", pki[1], "--tls-key", pki[2], "--tls-api", api]
    proc, port = start_server(binary, extra)
    try:
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        scheme = "wss" if tls else "ws"
        ctx = ssl.create_default_context(cafile=pki[0]) if tls else None
        loop = asyncio.new_event_loop()
        conns = loop.run_until_complete(hold(f"{scheme}://127.0.0.1:{port}/echo", count, ctx, settle))
        after = rss_kib(proc.pid)
        async def close_all():
            await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

        loop.run_until_complete(close_all())
        loop.close()
        return before, after, (after - before) * 1024 / count
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--bin", default="target/release/switchboard")
    parser.add_argument("--io-driver", default="io-uring")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        pki = make_pki(directory)
        rows = {mode: measure(args.bin, args.connections, args.io_driver, mode, pki, args.settle)
                for mode in MODES}
    print(f"{args.connections} idle connections, {args.io_driver}, one shard")
    print("| | " + " | ".join(MODES) + " |\n|---|" + "---|" * len(MODES))
    for i, name in enumerate(["server RSS before (KiB)", "server RSS with all open (KiB)",
                              "**RSS growth per connection (B)**"]):
        print(f"| {name} | " + " | ".join(f"{rows[m][i]:.0f}" for m in MODES) + " |")
    if args.json:
        print(json.dumps({"connections": args.connections, "driver": args.io_driver,
                          **{m: dict(zip(["before_kib", "after_kib", "per_conn_b"], v))
                             for m, v in rows.items()}}))


if __name__ == "__main__":
    sys.exit(main())
