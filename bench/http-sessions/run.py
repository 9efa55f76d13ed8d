#!/usr/bin/env python3
"""HTTP sessions: resident memory per idle session, and server CPU per frame delivered
to long-polling visitors.

Starts `switchboard serve` (SWITCHBOARD_BIN, default target/release/switchboard) with
one shard on a free port, opens SESSIONS idle sessions (RSS growth / SESSIONS), then
runs PAIRS conversations of a WebSocket agent and a long-polling visitor: the agent
sends LINES lines to each, the visitor polls them all; server CPU (from /proc) per
frame the visitors received. Needs `websockets` and `httpx` (tests/python venv).
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
from websockets.sync.client import connect

BIN = os.environ.get("SWITCHBOARD_BIN", "target/release/switchboard")
SESSIONS = int(os.environ.get("SESSIONS", "20000"))
PAIRS = int(os.environ.get("PAIRS", "20"))
LINES = int(os.environ.get("LINES", "200"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_session(port, token):
    # A raw request: cheaper on the client than httpx for thousands of sessions.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"POST /v1/sessions?token={token} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return body["session"], body["cursor"]


def main():
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--control-listen", "127.0.0.1:0",
         "--durability", "off", "--shards", "1", "--session-idle-ms", "600000",
         "--agent-capacity", str(PAIRS + 1), "--poll-wait-ms", "25000",
         "--budget-loop-lag-ms", "600000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("listening on"):
                break
        # Warm up first: over the first ~10,000 requests RSS moves both ways (the
        # shard's pools fault in, the allocator returns pages), so growth is measured
        # from there.
        for i in range(10000):
            open_session(port, f"warm{i}")
        time.sleep(0.5)
        base_rss = rss(proc.pid)
        for i in range(SESSIONS):
            open_session(port, f"idle{i}")
        time.sleep(0.5)
        grown = rss(proc.pid) - base_rss
        print(f"idle sessions: {SESSIONS}, RSS growth {grown} B, {grown / SESSIONS:.0f} B per session")

        received = [0] * PAIRS
        base = f"http://127.0.0.1:{port}"

        def visitor(i, ready, done):
            http = httpx.Client(timeout=30, headers={"Connection": "close"})
            sid, cursor = open_session(port, f"pv{i}")
            url = f"{base}/v1/sessions/{sid}"
            http.post(url, content=b'{"type":"start"}')
            ready.set()
            while not done.is_set():
                batch = http.get(url, params={"cursor": cursor}).json()
                cursor = batch["cursor"]
                received[i] += sum(1 for f in batch["frames"] if f["type"] == "message")
                if received[i] >= LINES:
                    return

        agent = connect(f"ws://127.0.0.1:{port}/v1/ws?token=agent:bench", subprotocols=["switchboard.v1.json"])
        agent.recv()
        agent.send(json.dumps({"type": "agent_status", "status": "online", "capacity": PAIRS + 1}))
        done = threading.Event()
        threads, convs = [], []
        for i in range(PAIRS):
            ready = threading.Event()
            t = threading.Thread(target=visitor, args=(i, ready, done), daemon=True)
            t.start()
            threads.append(t)
            ready.wait()
        while len(convs) < PAIRS:
            frame = json.loads(agent.recv(timeout=10))
            if frame["type"] == "conversation" and frame["conv"] not in convs:
                convs.append(frame["conv"])
        start_cpu, start = cpu_seconds(proc.pid), time.monotonic()
        for n in range(LINES):
            for conv in convs:
                agent.send(json.dumps({"type": "send", "conv": conv, "client_msg_id": f"{conv}-{n}", "body": "x" * 40}))
            time.sleep(0.002)
        for t in threads:
            t.join(timeout=60)
        done.set()
        cpu = cpu_seconds(proc.pid) - start_cpu
        frames = sum(received)
        print(f"long-poll delivery: {frames} frames to {PAIRS} visitors in {time.monotonic() - start:.1f} s, "
              f"server CPU {cpu:.2f} s, {cpu / max(frames, 1) * 1e6:.0f} us per frame")
        agent.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
