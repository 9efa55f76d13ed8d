"""The HTTP fallbacks of `/v1/ws` (docs/protocol.md, "HTTP sessions"), driven by the
Python `httpx` client (an HTTP implementation written by others): a visitor on
long-polling and an agent on WebSocket chat with each other; a poll answer lost in
flight is fetched again with the same cursor (no gap, no duplicate after dedupe); SSE
resumes from `Last-Event-ID`; sessions expire, overflow, and bad requests get 4xx JSON.

Frames are read with `json` and checked against the field names of docs/protocol.md."""

import json
import time

import httpx

from conftest import tls_on
from test_cluster import redis_url  # noqa: F401 (a fixture)
from test_conversations import agent_barrier, expect, open_chat, send, welcome

TIMEOUT = 10


def base(server):
    scheme = "https" if tls_on() else "http"
    return f"{scheme}://{server.host}:{server.port}"


def client():
    # One connection per request: every session answer closes its connection.
    return httpx.Client(timeout=TIMEOUT, headers={"Connection": "close"})


class Session:
    """A long-poll client: the cursor it has, and every frame it saw, in order."""

    def __init__(self, server, token, http=None):
        self.http = http or client()
        self.base = base(server)
        answer = self.http.post(f"{self.base}/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        self.id = body["session"]
        assert len(self.id) == 46 and int(self.id, 16) >= 0
        self.cursor = body["cursor"]
        self.pending = list(body["frames"])

    @property
    def url(self):
        return f"{self.base}/v1/sessions/{self.id}"

    def post(self, *frames):
        body = frames[0] if len(frames) == 1 else list(frames)
        answer = self.http.post(self.url, content=json.dumps(body))
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"accepted": len(frames)}

    def poll(self, cursor=None):
        answer = self.http.get(self.url, params={"cursor": self.cursor if cursor is None else cursor})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def next(self):
        """The next frame, polling as needed."""
        deadline = time.monotonic() + TIMEOUT
        while not self.pending:
            assert time.monotonic() < deadline, "no frame in time"
            batch = self.poll()
            assert batch["cursor"] >= self.cursor
            self.cursor = batch["cursor"]
            self.pending.extend(batch["frames"])
        return self.pending.pop(0)

    def expect(self, type_, **fields):
        frame = self.next()
        assert frame["type"] == type_, f"expected {type_} {fields}, got {frame}"
        for key, value in fields.items():
            assert frame.get(key) == value, f"{key}: expected {value!r} in {frame}"
        return frame


def start_conversation(agent, visitor, name):
    visitor.post({"type": "start"})
    conv = visitor.expect("conversation", state="waiting", visitor=name)["conv"]
    visitor.expect("system", conv=conv, seq=1, event="created")
    visitor.expect("system", conv=conv, seq=2, event="assigned", agent="http-agent")
    expect(agent, "conversation", conv=conv, state="serving", agent="http-agent", last_seq=2)
    expect(agent, "system", conv=conv, seq=1)
    expect(agent, "system", conv=conv, seq=2)
    return conv


def test_a_long_poll_visitor_and_a_websocket_agent_chat(start_server):
    server = start_server("--shards", "2", "--close-timeout-ms", "1000", "--poll-wait-ms", "2000")
    with open_chat(server, "agent:http-agent") as agent:
        welcome(agent, "http-agent", "agent")
        agent_barrier(agent)
        visitor = Session(server, "http-visitor")
        hello = visitor.expect("welcome", user="http-visitor", role="visitor")
        assert isinstance(hello["conn"], int)
        conv = start_conversation(agent, visitor, "http-visitor")

        visitor.post({"type": "send", "conv": conv, "client_msg_id": "h1", "body": "héllo over HTTP"})
        sent = visitor.expect("sent", conv=conv, client_msg_id="h1", seq=3)
        message = expect(agent, "message", conv=conv, seq=3, body="héllo over HTTP", **{"from": "http-visitor"})
        assert message["ts"] == sent["ts"]

        # A poll that is waiting is answered as soon as the agent's line arrives.
        started = time.monotonic()
        send(agent, type="send", conv=conv, client_msg_id="a1", body="how can I help?")
        expect(agent, "sent", conv=conv, seq=4)
        visitor.expect("message", conv=conv, seq=4, body="how can I help?", **{"from": "http-agent"})
        assert time.monotonic() - started < 1.5

        # Typing both ways, and several frames in one request (answered in order).
        send(agent, type="typing", conv=conv)
        visitor.expect("typing", conv=conv, **{"from": "http-agent"})
        visitor.post(
            {"type": "typing", "conv": conv},
            {"type": "send", "conv": conv, "client_msg_id": "h2", "body": "two"},
            {"type": "send", "conv": conv, "client_msg_id": "h3", "body": "three"},
        )
        expect(agent, "typing", conv=conv, **{"from": "http-visitor"})
        expect(agent, "message", conv=conv, seq=5, body="two")
        expect(agent, "message", conv=conv, seq=6, body="three")
        visitor.expect("sent", client_msg_id="h2", seq=5)
        visitor.expect("sent", client_msg_id="h3", seq=6)

        # A poll with nothing to return waits --poll-wait-ms, then answers empty.
        started = time.monotonic()
        batch = visitor.poll()
        waited = time.monotonic() - started
        assert batch == {"cursor": visitor.cursor, "frames": []}
        assert 1.5 < waited < 5, waited

        visitor.post({"type": "end", "conv": conv})
        visitor.expect("system", conv=conv, seq=7, event="ended", reason="visitor")
        expect(agent, "system", conv=conv, seq=7, event="ended")


def test_a_lost_poll_answer_is_fetched_again_and_a_retry_is_deduped(start_server):
    server = start_server("--shards", "2", "--close-timeout-ms", "1000", "--poll-wait-ms", "2000")
    with open_chat(server, "agent:http-agent") as agent:
        welcome(agent, "http-agent", "agent")
        agent_barrier(agent)
        visitor = Session(server, "lossy")
        visitor.expect("welcome")
        conv = start_conversation(agent, visitor, "lossy")
        send(agent, type="send", conv=conv, client_msg_id="a1", body="one")
        send(agent, type="send", conv=conv, client_msg_id="a2", body="two")
        expect(agent, "sent", seq=3)
        expect(agent, "sent", seq=4)

        # The answer is "lost": the client never learnt the new cursor, so it polls again
        # with the old one and gets the very same frames.
        before = visitor.cursor
        first = visitor.poll(before)
        while len(first["frames"]) < 2:
            first = visitor.poll(before)
        again = visitor.poll(before)
        assert again == first
        assert [f["seq"] for f in again["frames"]] == [3, 4]

        # The client's line went out but its `sent` ack was lost: it sends again with the
        # same client_msg_id; the server acks with the same seq and delivers it once.
        visitor.cursor = again["cursor"]
        visitor.post({"type": "send", "conv": conv, "client_msg_id": "v1", "body": "once"})
        first_ack = visitor.expect("sent", client_msg_id="v1")
        visitor.post({"type": "send", "conv": conv, "client_msg_id": "v1", "body": "once"})
        second_ack = visitor.expect("sent", client_msg_id="v1")
        assert second_ack["seq"] == first_ack["seq"] == 5 and second_ack["ts"] == first_ack["ts"]
        expect(agent, "message", seq=5, body="once")
        send(agent, type="send", conv=conv, client_msg_id="a3", body="after")
        expect(agent, "sent", seq=6)
        visitor.expect("message", seq=6, body="after")  # no second seq 5 in between


def read_events(lines, count):
    """`count` events from the lines of an SSE answer as (id, frame), skipping comments."""
    events, event = [], {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if "data" in event:
                events.append((int(event["id"]), json.loads(event["data"])))
                if len(events) == count:
                    return events
            event = {}
            continue
        key, _, value = line.partition(": ")
        event[key] = value
    raise AssertionError(f"stream ended after {events}")


def test_sse_streams_frames_and_resumes_from_last_event_id(start_server):
    server = start_server("--shards", "2", "--close-timeout-ms", "1000", "--sse-keepalive-ms", "300")
    with open_chat(server, "agent:http-agent") as agent:
        welcome(agent, "http-agent", "agent")
        agent_barrier(agent)
        visitor = Session(server, "streamer")
        visitor.expect("welcome")
        http = client()
        with http.stream("GET", f"{visitor.url}/events", params={"cursor": visitor.cursor}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"] == "text/event-stream"
            visitor.post({"type": "start"})
            events = read_events(stream.iter_lines(), 3)
        ids = [i for i, _ in events]
        assert ids == list(range(visitor.cursor + 1, visitor.cursor + 4))
        conv = events[0][1]["conv"]
        assert [f["type"] for _, f in events] == ["conversation", "system", "system"]
        expect(agent, "conversation", conv=conv)
        expect(agent, "system", seq=1)
        expect(agent, "system", seq=2)
        send(agent, type="send", conv=conv, client_msg_id="a1", body="while you were away")
        expect(agent, "sent", seq=3)

        # The stream broke after the first event was read: EventSource reconnects with
        # Last-Event-ID and gets everything after it, the agent's line included.
        with http.stream("GET", f"{visitor.url}/events", headers={"Last-Event-ID": str(ids[0])}) as stream:
            lines = stream.iter_lines()
            again = read_events(lines, 3)
            assert again[:2] == events[1:]
            assert again[2][0] == ids[2] + 1
            assert again[2][1]["type"] == "message" and again[2][1]["body"] == "while you were away"
            # Idle: keep-alive comments arrive.
            started = time.monotonic()
            for line in lines:
                if line.startswith(":"):
                    break
            assert time.monotonic() - started < 3


def test_a_session_nobody_polls_expires(start_server):
    server = start_server("--shards", "1", "--session-idle-ms", "600")
    visitor = Session(server, "sleepy")
    time.sleep(1.0)
    answer = visitor.http.get(visitor.url, params={"cursor": 1})
    assert answer.status_code in (404, 410), answer.text
    error = answer.json()["error"]
    if answer.status_code == 410:
        assert error["code"] == "session_ended" and "expired" in error["message"]
    else:
        assert error["code"] == "unknown_session"


def test_a_session_whose_client_does_not_poll_overflows(start_server):
    server = start_server("--shards", "1", "--session-buffer-frames", "3")
    with open_chat(server, "agent:http-agent") as agent:
        welcome(agent, "http-agent", "agent")
        agent_barrier(agent)
        visitor = Session(server, "deaf")
        # welcome (1) + start's conversation, created, assigned: over 3 unpolled frames.
        visitor.post({"type": "start"})
        expect(agent, "conversation", state="serving")
        answer = visitor.http.get(visitor.url, params={"cursor": 0})
        assert answer.status_code == 410, answer.text
        error = answer.json()["error"]
        assert error["code"] == "session_ended" and error["message"].startswith("buffer_overflow"), error


def test_bad_requests_get_4xx_json(start_server):
    server = start_server("--shards", "2", "--max-request-body-bytes", "1024", "--poll-wait-ms", "300")
    http = client()
    root = base(server)
    visitor = Session(server, "careful", http)

    def check(answer, status, code):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == code, answer.text

    check(http.post(visitor.url, content=b"{not json"), 400, "bad_body")
    check(http.post(visitor.url, content=b"[1, 2]"), 400, "bad_body")
    check(http.post(visitor.url, content=b'{"type":"no_such_frame"}'), 400, "bad_frame")
    check(http.post(visitor.url, content=b"x" * 2000), 413, "body_too_large")
    check(http.get(visitor.url, params={"cursor": "abc"}), 400, "bad_cursor")
    check(http.get(visitor.url, params={"cursor": 99}), 400, "cursor_ahead")
    check(http.get(f"{root}/v1/sessions"), 405, "method_not_allowed")
    check(http.get(f"{root}/v1/sessions/zz"), 400, "bad_session_id")
    # A well-formed id that names no session, and a real id with a wrong secret.
    check(http.get(f"{root}/v1/sessions/{visitor.id[:14]}{'0' * 32}"), 404, "unknown_session")
    check(http.get(f"{root}/v1/sessions/{'0' * 46}"), 404, "unknown_session")

    def chunks():
        yield b'{"type":'
        yield b'"start"}'

    check(http.post(visitor.url, content=chunks()), 411, "length_required")
    # The session survived all of that.
    assert visitor.poll(1) == {"cursor": 1, "frames": []}
    # Closing it: later requests learn why.
    answer = http.delete(visitor.url)
    assert answer.status_code == 200 and answer.json() == {"ended": True}
    check(http.get(visitor.url), 410, "session_ended")


def test_cluster_sessions_are_node_local_and_a_reopened_session_resumes(start_server, redis_url):
    from test_cluster import open_chat as cluster_chat, recv_until, wait_for_nodes

    a = start_server("--redis", redis_url, "--node-name", "http-a", "--node-ttl-ms", "1500", "--poll-wait-ms", "1000")
    wait_for_nodes(a, 1)
    b = start_server("--redis", redis_url, "--node-name", "http-b", "--node-ttl-ms", "1500", "--poll-wait-ms", "1000")
    wait_for_nodes(a, 2)
    wait_for_nodes(b, 2)
    with cluster_chat(a, "agent:http-agent") as agent:
        recv_until(agent, lambda f: f["type"] == "welcome")
        send(agent, type="decline_transfer", conv=9_000_000_001)
        recv_until(agent, lambda f: f.get("code") == "unknown_conversation")
        # A long-poll visitor on node B and the agent on node A.
        visitor = Session(b, "roamer")
        visitor.expect("welcome")
        visitor.post({"type": "start"})
        conv = visitor.expect("conversation", state="waiting")["conv"]
        recv_until(agent, lambda f: f.get("event") == "assigned")
        visitor.post({"type": "send", "conv": conv, "client_msg_id": "r1", "body": "from B"})
        line, _ = recv_until(agent, lambda f: f["type"] == "message")
        assert line["body"] == "from B"
        send(agent, type="send", conv=conv, client_msg_id="a1", body="from A")
        seen = 0
        while True:
            frame = visitor.next()
            seen = max(seen, frame.get("seq") or 0)
            if frame["type"] == "message":
                assert frame["body"] == "from A"
                break

        # The next request lands on node A, which does not hold the session: 404 with a
        # clear reason, so the client opens a session there and resumes.
        answer = httpx.get(f"{base(a)}/v1/sessions/{visitor.id}", params={"cursor": visitor.cursor}, timeout=TIMEOUT)
        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert error["code"] == "unknown_session" and "open a new session and resume" in error["message"]
        send(agent, type="send", conv=conv, client_msg_id="a2", body="while you moved")
        again = Session(a, "roamer")
        again.expect("welcome")
        again.post({"type": "resume", "conv": conv, "after_seq": seen})
        again.expect("conversation", conv=conv)
        again.expect("message", body="while you moved")
