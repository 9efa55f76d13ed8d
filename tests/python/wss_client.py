"""The Python `websockets` client of the Rust TLS tests (tests/tests/tls_*.rs): talks
to a `--tls-cert` listener over wss:// trusting only the test CA.

    wss_client.py chat BASE CA   an agent and a visitor: start, a line, its `sent`,
                                 the line at the agent; prints `ok`
    wss_client.py hold BASE CA   keeps one /echo connection open; prints `serial HEX`
                                 of its certificate, then for every `check` on stdin
                                 echoes on the old connection and opens a new one:
                                 `old ok` and `new HEX`

    wss_client.py echo BASE CA   /echo with messages from 1 byte to 300 KB (one to
                                 many records each way); prints `ok`

BASE is `wss://127.0.0.1:PORT`. Any failure raises (non-zero exit)."""

import json
import ssl
import sys

from websockets.sync.client import connect

TIMEOUT = 10


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def open_ws(url, ca, **kwargs):
    return connect(url, ssl=context(ca), open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs)


def recv(ws):
    return json.loads(ws.recv(timeout=TIMEOUT))


def expect(ws, type_, **fields):
    frame = recv(ws)
    assert frame["type"] == type_, f"expected {type_} {fields}, got {frame}"
    for key, value in fields.items():
        assert frame.get(key) == value, f"{key}: expected {value!r} in {frame}"
    return frame


def send(ws, **frame):
    ws.send(json.dumps(frame))


def chat(base, ca):
    proto = ["switchboard.v1.json"]
    with open_ws(f"{base}/v1/ws?token=agent:tls-agent", ca, subprotocols=proto) as agent:
        expect(agent, "welcome", user="tls-agent", role="agent")
        # Once this error is back the router knows the agent.
        send(agent, type="decline_transfer", conv=9_000_000_001)
        expect(agent, "error", code="unknown_conversation")
        with open_ws(f"{base}/v1/ws?token=tls-visitor", ca, subprotocols=proto) as visitor:
            expect(visitor, "welcome", user="tls-visitor", role="visitor")
            send(visitor, type="start")
            conv = expect(visitor, "conversation", state="waiting")["conv"]
            expect(visitor, "system", conv=conv, seq=1, event="created")
            expect(visitor, "system", conv=conv, seq=2, event="assigned", agent="tls-agent")
            expect(agent, "conversation", conv=conv, state="serving")
            expect(agent, "system", conv=conv, seq=1)
            expect(agent, "system", conv=conv, seq=2)
            body = "héllo over TLS " + "x" * 3000
            send(visitor, type="send", conv=conv, client_msg_id="tls-1", body=body)
            expect(visitor, "sent", conv=conv, client_msg_id="tls-1", seq=3)
            expect(agent, "message", conv=conv, seq=3, body=body, **{"from": "tls-visitor"})
            send(agent, type="send", conv=conv, client_msg_id="tls-a1", body="hi")
            expect(agent, "sent", conv=conv, seq=4)
            expect(visitor, "message", conv=conv, seq=4, body="hi")
    print("ok", flush=True)


def serial(ws):
    return ws.socket.getpeercert()["serialNumber"].upper()


def hold(base, ca):
    with open_ws(f"{base}/echo", ca) as old:
        old.send("before")
        assert old.recv(timeout=TIMEOUT) == "before"
        print(f"serial {serial(old)}", flush=True)
        for line in sys.stdin:
            if line.strip() != "check":
                break
            old.send("still here")
            assert old.recv(timeout=TIMEOUT) == "still here"
            print("old ok", flush=True)
            with open_ws(f"{base}/echo", ca) as new:
                new.send("new")
                assert new.recv(timeout=TIMEOUT) == "new"
                print(f"new {serial(new)}", flush=True)


def echo(base, ca):
    with open_ws(f"{base}/echo", ca, max_size=None) as ws:
        for size in [1, 1000, 16_000, 16_500, 70_000, 300_000]:
            data = bytes((i * 7 + size) & 0xFF for i in range(size))
            ws.send(data)
            assert ws.recv(timeout=TIMEOUT) == data, f"echo of {size} bytes differs"
            text = "ü" * (size // 2)
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text
    print("ok", flush=True)


if __name__ == "__main__":
    command, base, ca = sys.argv[1:4]
    {"chat": chat, "hold": hold, "echo": echo}[command](base, ca)
