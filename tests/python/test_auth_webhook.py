"""The connect webhook (`--auth-webhook`, issue 15 part 3) against a real HTTP server
this test starts (Python's `http.server`, on a free loopback port, in a thread): the
back end names the user from a token or a session cookie, refuses, fails, is slow;
the engine gives the identity on `/v1/ws` and on HTTP sessions alike, 401 for a
refusal, 503 (not 401) when the back end fails or is late, caches answers within their
expiry, asks once for many connections with the same credential, and counts it all in
`/metrics`. Clients: `websockets` and `httpx`."""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from conftest import tls_on
from test_conversations import open_chat, welcome
from test_metrics import scrape

IDENTITIES = {
    "tok-alice": {"user": "alice", "tier": "vip"},
    "tok-bob": {"user": "bob", "role": "agent", "groups": ["sales"]},
    "tok-short": {"user": "dave", "expires_in_s": 1},
    "tok-many": {"user": "erin"},
}
COOKIE_USERS = {"cookie-carol": {"user": "carol"}}


class Backend:
    """The shop's back end: answers by credential and counts the calls."""

    def __init__(self):
        self.calls = Counter()
        self.bodies = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                backend.bodies.append(body)
                token = body.get("token")
                sid = body.get("cookies", {}).get("sid")
                backend.calls[token or f"cookie:{sid}"] += 1
                if token == "tok-slow":
                    time.sleep(1.5)
                if token == "tok-many":
                    time.sleep(0.3)
                if token in IDENTITIES:
                    return self.answer(200, IDENTITIES[token])
                if sid in COOKIE_USERS:
                    return self.answer(200, COOKIE_USERS[sid])
                if token == "tok-boom":
                    return self.answer(500, {"error": "database down"})
                if token == "tok-liar":
                    return self.answer(200, {"user": "system"})
                return self.answer(401, {"reason": "session expired"})

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/connect"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.stop()


def webhook_server(start_server, backend, *extra, shards=2):
    return start_server(
        "--shards", str(shards), "--auth-webhook", backend.url, "--auth-webhook-cookie", "sid",
        "--auth-webhook-timeout-ms", "500", *extra,
    )


def refused(server, token, headers=None):
    """The HTTP status and JSON error of a refused upgrade."""
    with pytest.raises(InvalidStatus) as caught:
        open_chat(server, token, additional_headers=headers or {}).close()
    response = caught.value.response
    return response.status_code, json.loads(response.body)["error"]


def samples(server):
    out = {}
    for family in text_string_to_metric_families(scrape(server)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def calls_metric(server, result):
    return samples(server)[("switchboard_auth_webhook_calls_total", (("result", result),))]


def test_identities_come_from_the_back_end_and_are_cached(start_server, backend):
    server = webhook_server(start_server, backend)
    for _ in range(3):
        with open_chat(server, "tok-alice") as ws:
            welcome(ws, "alice", "visitor")
    with open_chat(server, "tok-bob") as ws:
        welcome(ws, "bob", "agent")
    assert backend.bodies[0] == {"token": "tok-alice", "cookies": {}}
    # Two shards, each with its own cache: at most one call per shard.
    assert 1 <= backend.calls["tok-alice"] <= 2, backend.calls
    assert backend.calls["tok-bob"] == 1
    hits = sum(v for (name, _), v in samples(server).items() if name == "switchboard_auth_webhook_cache_hits_total")
    assert hits >= 1
    assert calls_metric(server, "known") == backend.calls["tok-alice"] + 1


def test_a_session_cookie_is_a_credential(start_server, backend):
    server = webhook_server(start_server, backend)
    with open_chat(server, "", additional_headers={"Cookie": "theme=dark; sid=cookie-carol"}) as ws:
        welcome(ws, "carol", "visitor")
    assert {"token": None, "cookies": {"sid": "cookie-carol"}} in backend.bodies
    assert all("theme" not in b["cookies"] for b in backend.bodies), "only the named cookie is sent"


def test_a_refusal_is_401_and_remembered(start_server, backend):
    server = webhook_server(start_server, backend, shards=1)
    status, error = refused(server, "tok-nobody")
    assert status == 401 and error["code"] == "unauthorized", error
    assert error["message"] == "session expired", error
    assert refused(server, "tok-nobody")[0] == 401
    assert backend.calls["tok-nobody"] == 1, "the refusal was cached"
    status, error = refused(server, "")
    assert status == 401 and "missing" in error["message"], error
    assert calls_metric(server, "refused") == 1


def test_a_failing_or_slow_back_end_is_503_not_401(start_server, backend):
    server = webhook_server(start_server, backend, shards=1)
    for token in ["tok-boom", "tok-slow", "tok-liar"]:
        status, error = refused(server, token)
        assert status == 503 and error["code"] == "auth_unavailable", (token, error)
    # Failures are not cached: the next attempt asks again.
    assert refused(server, "tok-boom")[0] == 503
    assert backend.calls["tok-boom"] == 2
    assert calls_metric(server, "failed") == 4
    # The shard kept serving while it waited.
    with open_chat(server, "tok-alice") as ws:
        welcome(ws, "alice", "visitor")


def test_a_back_end_that_is_down_is_503(start_server, backend):
    url = backend.url
    backend.stop()
    server = start_server("--auth-webhook", url, "--auth-webhook-timeout-ms", "500")
    status, error = refused(server, "tok-alice")
    assert status == 503 and error["code"] == "auth_unavailable", error


def test_the_answers_expiry_is_kept(start_server, backend):
    server = webhook_server(start_server, backend, shards=1)
    with open_chat(server, "tok-short") as ws:
        welcome(ws, "dave", "visitor")
    with open_chat(server, "tok-short") as ws:
        welcome(ws, "dave", "visitor")
    assert backend.calls["tok-short"] == 1
    time.sleep(1.2)
    with open_chat(server, "tok-short") as ws:
        welcome(ws, "dave", "visitor")
    assert backend.calls["tok-short"] == 2, "asked again after expires_in_s"


def test_many_connections_with_one_credential_wait_on_one_call(start_server, backend):
    server = webhook_server(start_server, backend, shards=1)
    results = []

    def one():
        with open_chat(server, "tok-many") as ws:
            results.append(welcome(ws, "erin", "visitor")["user"])

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert results == ["erin"] * 6
    assert backend.calls["tok-many"] == 1, backend.calls


def test_http_sessions_get_the_same_identities(start_server, backend):
    server = webhook_server(start_server, backend, shards=1)
    scheme = "https" if tls_on() else "http"
    base = f"{scheme}://{server.host}:{server.port}"
    with httpx.Client(timeout=10, headers={"Connection": "close"}) as http:
        opened = http.post(f"{base}/v1/sessions", headers={"Authorization": "Bearer tok-bob"})
        assert opened.status_code == 200, opened.text
        first = opened.json()["frames"][0]
        assert first["type"] == "welcome" and first["user"] == "bob" and first["role"] == "agent", first
        cookie = http.post(f"{base}/v1/sessions", headers={"Cookie": "sid=cookie-carol"})
        assert cookie.json()["frames"][0]["user"] == "carol"
        no = http.post(f"{base}/v1/sessions", headers={"Authorization": "Bearer tok-nobody"})
        assert no.status_code == 401 and no.json()["error"]["code"] == "unauthorized", no.text
        down = http.post(f"{base}/v1/sessions", headers={"Authorization": "Bearer tok-boom"})
        assert down.status_code == 503 and down.json()["error"]["code"] == "auth_unavailable", down.text
    with open_chat(server, "tok-bob") as ws:
        welcome(ws, "bob", "agent")
    assert backend.calls["tok-bob"] == 1, "the WebSocket used the session's cached answer"


def test_a_bad_webhook_url_stops_the_start(start_server):
    with pytest.raises(RuntimeError, match="auth-webhook"):
        start_server("--auth-webhook", "ftp://example")


def hs256(secret: bytes, claims: dict) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_a_verified_jwt_needs_no_call(start_server, backend):
    secret = b"k" * 32
    server = webhook_server(start_server, backend, "--jwt-secret", secret.decode(), shards=1)
    token = hs256(secret, {"sub": "frank", "role": "visitor", "exp": int(time.time()) + 600})
    with open_chat(server, token) as ws:
        welcome(ws, "frank", "visitor")
    assert not backend.bodies, "the JWT was verified locally"
    with open_chat(server, "tok-alice") as ws:
        welcome(ws, "alice", "visitor")
    assert backend.calls["tok-alice"] == 1, "what the key does not verify goes to the back end"
