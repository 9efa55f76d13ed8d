"""Switchboard as seen by the Python `websockets` client (a WebSocket implementation
written by others): echo, fragmentation, ping, chat frames on /v1/ws, close codes,
keepalive and graceful shutdown."""

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import connect

TIMEOUT = 10


def open_ws(url, **kwargs):
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    kwargs.setdefault("max_size", 16 * 1024 * 1024)
    return connect(url, **kwargs)


def test_echo_text_and_binary(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/echo")) as ws:
        for text in ["hello", "", "ünïcödé ✓ 🚀", "x" * 60_000]:
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text
        for data in [b"\x00\x01\xff", b"", bytes(range(256)) * 200]:
            ws.send(data)
            assert ws.recv(timeout=TIMEOUT) == data


def test_echo_fragmented_messages_come_back_whole(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/echo")) as ws:
        # An iterable is sent as one fragmented message, one frame per item.
        ws.send(["frag", "mented ", "tëxt", ""])
        assert ws.recv(timeout=TIMEOUT) == "fragmented tëxt"
        chunks = [bytes([i]) * 1000 for i in range(50)]
        ws.send(chunks)
        assert ws.recv(timeout=TIMEOUT) == b"".join(chunks)


def test_large_message_with_raised_frame_limit(start_server):
    server = start_server("--shards", "1", "--max-frame-bytes", "1048576")
    with open_ws(server.url("/echo")) as ws:
        data = bytes((i * 31) & 0xFF for i in range(900 * 1024))
        ws.send(data)
        assert ws.recv(timeout=TIMEOUT) == data


def test_ping_gets_pong(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/echo")) as ws:
        waiter = ws.ping(b"python-ping")
        assert waiter.wait(TIMEOUT), "no pong"
        ws.send("after ping")
        assert ws.recv(timeout=TIMEOUT) == "after ping"


def test_client_answering_server_pings_is_kept_alive(start_server):
    server = start_server("--shards", "1", "--ping-interval-ms", "200", "--idle-timeout-ms", "1000")
    # websockets answers pings in its background thread; stay idle for 3 idle timeouts.
    with open_ws(server.url("/echo"), ping_interval=None) as ws:
        time.sleep(3)
        ws.send("still here")
        assert ws.recv(timeout=TIMEOUT) == "still here"


def welcome(ws):
    frame = json.loads(ws.recv(timeout=TIMEOUT))
    assert frame["type"] == "welcome", frame
    assert isinstance(frame["conn"], int) and isinstance(frame["shard"], int), frame
    return frame


def test_v1_welcome_and_direct_between_two_connections(start_server):
    server = start_server("--shards", "2")
    with open_ws(server.url("/v1/ws?token=py-alice")) as alice, open_ws(
        server.url("/v1/ws"), additional_headers={"Authorization": "Bearer py-bob"}
    ) as bob:
        wa, wb = welcome(alice), welcome(bob)
        assert wa["user"] == "py-alice"
        assert wb["user"] == "py-bob"
        alice.send(json.dumps({"type": "direct", "to": wb["conn"], "body": "hi bob"}))
        assert json.loads(bob.recv(timeout=TIMEOUT)) == {"type": "delivered", "from": wa["conn"], "body": "hi bob"}
        bob.send(json.dumps({"type": "direct", "to": wa["conn"], "body": "hi alice"}))
        assert json.loads(alice.recv(timeout=TIMEOUT)) == {"type": "delivered", "from": wb["conn"], "body": "hi alice"}


def test_v1_subprotocol_negotiation(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/v1/ws"), subprotocols=["switchboard.v1.json"]) as ws:
        assert ws.subprotocol == "switchboard.v1.json"
        welcome(ws)
    with open_ws(server.url("/v1/ws"), subprotocols=["switchboard.v1.bin"]) as ws:
        assert ws.subprotocol == "switchboard.v1.bin"
        assert isinstance(ws.recv(timeout=TIMEOUT), bytes)
    with open_ws(server.url("/v1/ws")) as ws:
        assert ws.subprotocol is None
        welcome(ws)


def test_v1_unknown_connection_error(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/v1/ws")) as ws:
        welcome(ws)
        ws.send(json.dumps({"type": "direct", "to": 999_999_999, "body": "?"}))
        frame = json.loads(ws.recv(timeout=TIMEOUT))
        assert frame["type"] == "error" and frame["code"] == "unknown_connection", frame


def closed_with(ws):
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(100):
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None, "no close frame received"
    return info.value.rcvd


def test_oversized_frame_is_closed_1009(start_server):
    server = start_server("--shards", "1", "--max-frame-bytes", "1024")
    with open_ws(server.url("/echo")) as ws:
        ws.send(b"\x00" * 4096)
        rcvd = closed_with(ws)
        assert rcvd.code == 1009, rcvd
        assert rcvd.reason, "1009 without a reason"


def test_malformed_chat_frame_is_closed_1007(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/v1/ws")) as ws:
        welcome(ws)
        ws.send("{not json")
        rcvd = closed_with(ws)
        assert rcvd.code == 1007, rcvd


def test_binary_on_json_protocol_is_closed_1003(start_server):
    server = start_server("--shards", "1")
    with open_ws(server.url("/v1/ws")) as ws:
        welcome(ws)
        ws.send(b"\x01\x02")
        rcvd = closed_with(ws)
        assert rcvd.code == 1003, rcvd


def test_sigterm_closes_1001_and_exits_0(start_server):
    server = start_server("--shards", "2", "--shutdown-deadline-ms", "3000")
    with open_ws(server.url("/echo")) as a, open_ws(server.url("/v1/ws")) as b:
        welcome(b)
        a.send("ready")
        assert a.recv(timeout=TIMEOUT) == "ready"
        server.terminate()
        for ws in (a, b):
            rcvd = closed_with(ws)
            assert rcvd.code == 1001, rcvd
    assert server.wait(timeout=10) == 0


def test_normal_close_is_echoed(start_server):
    server = start_server("--shards", "1")
    ws = open_ws(server.url("/echo"))
    ws.close(code=4000, reason="done")
    assert ws.close_code == 4000
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=TIMEOUT)


def test_server_closed_connection_raises_closed_error_not_ok(start_server):
    server = start_server("--shards", "1", "--max-frame-bytes", "16")
    with open_ws(server.url("/echo")) as ws:
        ws.send("this is longer than sixteen bytes")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
