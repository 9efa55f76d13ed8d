"""Cluster mode with the Python `websockets` client (written by others): a real
redis-server and two engine nodes; a visitor on one node and an agent on the other
chat both ways, the visitor reconnects to the *other* node and resumes from its last
seq with no gap and no duplicate. Frames are checked as JSON text, independently of
the Rust protocol crate."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from websockets.sync.client import connect

TIMEOUT = 10


def redis_binary():
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server")


@pytest.fixture
def redis_url():
    binary = redis_binary()
    if not binary:
        pytest.fail("redis-server not found: run tests/run-all, which installs it")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="sb-py-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not answer PING")
    yield f"redis://127.0.0.1:{port}/"
    proc.kill()
    proc.wait(timeout=5)
    shutil.rmtree(workdir, ignore_errors=True)


def open_chat(server, token):
    return connect(server.url(f"/v1/ws?token={token}"), subprotocols=["switchboard.v1.json"],
                   open_timeout=TIMEOUT, close_timeout=TIMEOUT)


def recv(ws):
    return json.loads(ws.recv(timeout=TIMEOUT))


def send(ws, **frame):
    ws.send(json.dumps(frame))


def recv_until(ws, want):
    """Frames until one for which `want(frame)` holds; returns it and those before."""
    seen = []
    while True:
        frame = recv(ws)
        if want(frame):
            return frame, seen
        seen.append(frame)


def nodes(server):
    with urllib.request.urlopen(f"http://{server.control}/v1/nodes", timeout=TIMEOUT) as answer:
        return json.load(answer)


def wait_for_nodes(server, count):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(nodes(server)["nodes"]) == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"never {count} nodes: {nodes(server)}")


def test_cross_node_chat_and_resume_on_the_other_node(start_server, redis_url):
    a = start_server("--redis", redis_url, "--node-name", "py-a", "--node-ttl-ms", "1500")
    wait_for_nodes(a, 1)
    b = start_server("--redis", redis_url, "--node-name", "py-b", "--node-ttl-ms", "1500")
    wait_for_nodes(a, 2)
    wait_for_nodes(b, 2)
    listed = nodes(b)
    assert listed["mode"] == "cluster" and listed["redis"]["connected"] is True, listed
    assert sorted(n["name"] for n in listed["nodes"]) == ["py-a", "py-b"], listed

    with open_chat(a, "agent:py-bob") as agent:
        assert recv(agent)["type"] == "welcome"
        send(agent, type="decline_transfer", conv=9_000_000_001)
        assert recv(agent)["code"] == "unknown_conversation"
        with open_chat(b, "py-alice") as visitor:
            assert recv(visitor)["type"] == "welcome"
            send(visitor, type="start")
            snapshot = recv(visitor)
            assert snapshot["type"] == "conversation" and snapshot["state"] == "waiting", snapshot
            conv = snapshot["conv"]
            assigned, _ = recv_until(visitor, lambda f: f.get("event") == "assigned")
            assert assigned["agent"] == "py-bob" and assigned["seq"] == 2, assigned
            offer, _ = recv_until(agent, lambda f: f["type"] == "conversation" and f["conv"] == conv)
            assert offer["state"] == "serving", offer
            recv_until(agent, lambda f: f.get("event") == "assigned")

            for i in range(5):
                send(visitor, type="send", conv=conv, client_msg_id=f"v{i}", body=f"from B {i}")
                sent, _ = recv_until(visitor, lambda f: f["type"] == "sent")
                assert sent["seq"] == 3 + 2 * i, sent
                line, _ = recv_until(agent, lambda f: f["type"] == "message")
                assert (line["seq"], line["client_msg_id"]) == (3 + 2 * i, f"v{i}"), line
                send(agent, type="send", conv=conv, client_msg_id=f"a{i}", body=f"from A {i}")
                recv_until(agent, lambda f: f["type"] == "sent")
                reply, _ = recv_until(visitor, lambda f: f["type"] == "message")
                assert (reply["seq"], reply["client_msg_id"]) == (4 + 2 * i, f"a{i}"), reply
            last_seen = 12

        # The agent writes while the visitor is away; the visitor comes back on node A.
        for i in range(3):
            send(agent, type="send", conv=conv, client_msg_id=f"away{i}", body=f"while away {i}")
            recv_until(agent, lambda f: f["type"] == "sent")
        with open_chat(a, "py-alice") as again:
            assert recv(again)["type"] == "welcome"
            send(again, type="resume", conv=conv, after_seq=last_seen)
            snapshot = recv(again)
            assert snapshot["type"] == "conversation" and snapshot["last_seq"] == last_seen + 3, snapshot
            replay = [recv(again) for _ in range(3)]
            assert [(f["seq"], f["client_msg_id"]) for f in replay] == [
                (13, "away0"), (14, "away1"), (15, "away2")], replay
            # A retry of an old line is acknowledged with its first seq, not stored again.
            send(again, type="send", conv=conv, client_msg_id="v0", body="from B 0")
            sent, _ = recv_until(again, lambda f: f["type"] == "sent")
            assert sent["seq"] == 3, sent
