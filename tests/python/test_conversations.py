"""A customer-service conversation driven by the Python `websockets` client (a
WebSocket and JSON implementation written by others): an agent and a visitor, `start`,
assignment, lines both ways with `sent` acks, a retried client_msg_id, a visitor that
reconnects and resumes from its last seq, typing and read receipts, and `end`.

Frames are read with `json.loads` and checked against the field names of
docs/protocol.md, independently of the Rust protocol crate."""

import json

from websockets.sync.client import connect

TIMEOUT = 10


def open_chat(server, token, **kwargs):
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    return connect(server.url(f"/v1/ws?token={token}"), subprotocols=["switchboard.v1.json"], **kwargs)


def recv(ws):
    text = ws.recv(timeout=TIMEOUT)
    assert isinstance(text, str), f"expected a text frame, got {text!r}"
    return json.loads(text)


def send(ws, **frame):
    ws.send(json.dumps(frame))


def welcome(ws, user, role):
    frame = recv(ws)
    assert frame["type"] == "welcome", frame
    assert frame["user"] == user and frame["role"] == role, frame
    assert isinstance(frame["conn"], int) and isinstance(frame["shard"], int), frame
    return frame


def expect(ws, type_, **fields):
    frame = recv(ws)
    assert frame["type"] == type_, f"expected {type_} {fields}, got {frame}"
    for key, value in fields.items():
        assert frame.get(key) == value, f"{key}: expected {value!r} in {frame}"
    return frame


def agent_barrier(ws):
    # decline_transfer of a conversation that does not exist goes through the router:
    # once its error is back, the router knows this agent.
    send(ws, type="decline_transfer", conv=9_000_000_001)
    expect(ws, "error", code="unknown_conversation")


def test_a_conversation_start_to_end(start_server):
    server = start_server("--shards", "2", "--close-timeout-ms", "1000")
    with open_chat(server, "agent:py-agent") as agent, open_chat(server, "py-visitor") as visitor:
        assert agent.subprotocol == "switchboard.v1.json"
        welcome(agent, "py-agent", "agent")
        agent_barrier(agent)
        welcome(visitor, "py-visitor", "visitor")

        # start: snapshot, `created`, then `assigned` to the only agent.
        send(visitor, type="start")
        snapshot = expect(visitor, "conversation", state="waiting", visitor="py-visitor", last_seq=1)
        conv = snapshot["conv"]
        assert "agent" not in snapshot or snapshot["agent"] is None
        created = expect(visitor, "system", conv=conv, seq=1, event="created")
        assert isinstance(created["ts"], int) and created["ts"] > 0
        expect(visitor, "system", conv=conv, seq=2, event="assigned", agent="py-agent")
        # The agent gets the snapshot and the history.
        expect(agent, "conversation", conv=conv, state="serving", agent="py-agent", last_seq=2)
        expect(agent, "system", conv=conv, seq=1, event="created")
        expect(agent, "system", conv=conv, seq=2, event="assigned", agent="py-agent")

        # Lines both ways: the sender gets `sent`, the other side `message`, same seq.
        send(visitor, type="send", conv=conv, client_msg_id="py-v1", body="héllo from Python")
        sent = expect(visitor, "sent", conv=conv, client_msg_id="py-v1", seq=3)
        message = expect(agent, "message", conv=conv, seq=3, **{"from": "py-visitor"})
        assert message["client_msg_id"] == "py-v1" and message["body"] == "héllo from Python"
        assert message["ts"] == sent["ts"]
        send(agent, type="send", conv=conv, client_msg_id="py-a1", body="how can I help?")
        expect(agent, "sent", conv=conv, client_msg_id="py-a1", seq=4)
        expect(visitor, "message", conv=conv, seq=4, body="how can I help?", **{"from": "py-agent"})

        # A retry of the same client_msg_id: the original seq again, no second delivery.
        send(visitor, type="send", conv=conv, client_msg_id="py-v1", body="héllo from Python")
        expect(visitor, "sent", conv=conv, client_msg_id="py-v1", seq=3, ts=sent["ts"])

        # Typing and read receipts reach the other side, without a seq.
        send(agent, type="typing", conv=conv)
        expect(visitor, "typing", conv=conv, **{"from": "py-agent"})
        send(visitor, type="read", conv=conv, seq=4)
        expect(agent, "read", conv=conv, seq=4, **{"from": "py-visitor"})
        send(visitor, type="send", conv=conv, client_msg_id="py-v2", body="my order")
        expect(visitor, "sent", conv=conv, client_msg_id="py-v2", seq=5)
        expect(agent, "message", conv=conv, seq=5, client_msg_id="py-v2")
        last_seen = 5

    # (Both connections closed.) The agent comes back; the visitor too, later.
    with open_chat(server, "agent:py-agent") as agent:
        welcome(agent, "py-agent", "agent")
        expect(agent, "conversation", conv=conv, state="serving", last_seq=5)
        for seq in range(1, 6):
            expect(agent, ["system", "system", "message", "message", "message"][seq - 1], seq=seq)
        send(agent, type="send", conv=conv, client_msg_id="py-a2", body="while you were away")
        expect(agent, "sent", conv=conv, client_msg_id="py-a2", seq=6)

        with open_chat(server, "py-visitor") as visitor:
            welcome(visitor, "py-visitor", "visitor")
            send(visitor, type="resume", conv=conv, after_seq=last_seen)
            expect(visitor, "conversation", conv=conv, state="serving", agent="py-agent", last_seq=6)
            expect(visitor, "message", conv=conv, seq=6, client_msg_id="py-a2", body="while you were away")
            send(visitor, type="send", conv=conv, client_msg_id="py-v3", body="thanks, bye")
            expect(visitor, "sent", conv=conv, seq=7)
            expect(agent, "message", conv=conv, seq=7, client_msg_id="py-v3")

            send(visitor, type="end", conv=conv)
            expect(visitor, "system", conv=conv, seq=8, event="ended", reason="visitor")
            send(visitor, type="send", conv=conv, client_msg_id="py-v4", body="?")
            expect(visitor, "error", code="conversation_ended")


def test_a_stranger_cannot_read_the_conversation(start_server):
    server = start_server("--shards", "2", "--close-timeout-ms", "1000")
    with open_chat(server, "agent:py-a") as agent, open_chat(server, "py-v") as visitor, open_chat(
        server, "agent:py-other"
    ) as other:
        welcome(agent, "py-a", "agent")
        agent_barrier(agent)
        welcome(other, "py-other", "agent")
        # py-other is known after py-a, with the same spare capacity: ties go to py-a by
        # name, so the conversation is py-a's.
        agent_barrier(other)
        welcome(visitor, "py-v", "visitor")
        send(visitor, type="start")
        conv = expect(visitor, "conversation")["conv"]
        expect(visitor, "system", seq=1, event="created")
        expect(visitor, "system", seq=2, event="assigned", agent="py-a")
        for frame in (
            {"type": "resume", "conv": conv, "after_seq": 0},
            {"type": "send", "conv": conv, "client_msg_id": "x", "body": "let me in"},
            {"type": "read", "conv": conv, "seq": 1},
        ):
            other.send(json.dumps(frame))
            expect(other, "error", code="not_participant")


def test_a_percent_encoded_query_token_is_decoded(start_server):
    # A browser's encodeURIComponent("agent:perc") is "agent%3Aperc"; the token is the
    # decoded text, so this is agent perc, not a visitor named "agent%3Aperc".
    server = start_server("--shards", "1")
    with open_chat(server, "agent%3Aperc") as ws:
        welcome(ws, "perc", "agent")
    with open_chat(server, "shop%2Dvisitor+1") as ws:
        welcome(ws, "shop-visitor+1", "visitor")  # `+` is not a space in a token
