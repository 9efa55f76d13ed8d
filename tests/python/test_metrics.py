"""`/metrics` of the control API, parsed by the Prometheus project's own Python parser.

The real `switchboard` binary is started (conftest.py), driven with `websockets` chat
clients, and its `/metrics` text must parse with
`prometheus_client.parser.text_string_to_metric_families`, contain the series of issue 5
(per-shard connections and messages, the delivery latency histogram, conversations by
state, queue length, degradation level, eBPF status), and move after traffic. The
Grafana dashboard in deploy/ may only query metric names that a real scrape has.
"""

import json
import re
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
TIMEOUT = 10.0


def scrape(server) -> str:
    with urllib.request.urlopen(f"http://{server.control}/metrics", timeout=TIMEOUT) as response:
        assert response.status == 200
        content_type = response.headers.get("Content-Type", "")
        assert content_type.startswith("text/plain"), content_type
        return response.read().decode("utf-8")


def parse(text: str):
    """{family name: family} and {(sample name, frozenset(labels)): value}."""
    families = {}
    samples = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return families, samples


def total(samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def value(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def chat(server, token: str):
    ws = connect(server.url(f"/v1/ws?token={token}"), open_timeout=TIMEOUT, close_timeout=2)
    welcome = json.loads(ws.recv(timeout=TIMEOUT))
    assert welcome["type"] == "welcome", welcome
    return ws


def recv_until(ws, pred, what: str):
    deadline = time.monotonic() + TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        seen.append(frame)
        if pred(frame):
            return frame
    raise AssertionError(f"no {what} within {TIMEOUT}s; saw {seen}")


def poll(server, check, what: str):
    deadline = time.monotonic() + TIMEOUT
    while True:
        families, samples = parse(scrape(server))
        if check(samples):
            return families, samples
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never {what}")
        time.sleep(0.05)


def test_metrics_parse_and_have_every_series(start_server):
    server = start_server("--shards", "2")
    families, samples = parse(scrape(server))
    types = {name: family.type for name, family in families.items()}
    # The parser strips `_total` from counter family names.
    expected = {
        "switchboard_accepts": "counter",
        "switchboard_rejects": "counter",
        "switchboard_connections": "gauge",
        "switchboard_messages_in": "counter",
        "switchboard_messages_out": "counter",
        "switchboard_deliveries": "counter",
        "switchboard_slow_consumers": "counter",
        "switchboard_outbound_queue_bytes": "gauge",
        "switchboard_event_loop_lag_seconds": "gauge",
        "switchboard_delivery_latency_seconds": "histogram",
        "switchboard_conversations": "gauge",
        "switchboard_queue_length": "gauge",
        "switchboard_degradation_level": "gauge",
        "switchboard_ebpf_enabled": "gauge",
        "switchboard_draining": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)} (families: {sorted(types)})"
    for shard in ("0", "1"):
        for name in (
            "switchboard_connections",
            "switchboard_accepts_total",
            "switchboard_messages_in_total",
            "switchboard_messages_out_total",
            "switchboard_deliveries_total",
            "switchboard_outbound_queue_bytes",
        ):
            assert value(samples, name, shard=shard) >= 0
        assert value(samples, "switchboard_delivery_latency_seconds_bucket", shard=shard, le="+Inf") == value(
            samples, "switchboard_delivery_latency_seconds_count", shard=shard
        )
    for state in ("waiting", "serving", "transferring", "ended"):
        assert value(samples, "switchboard_conversations", state=state) == 0
    assert value(samples, "switchboard_queue_length") == 0
    assert value(samples, "switchboard_degradation_level") == 0
    assert value(samples, "switchboard_ebpf_enabled") in (0, 1)
    assert value(samples, "switchboard_draining") == 0
    # Histogram buckets are cumulative and ordered.
    for shard in ("0", "1"):
        buckets = sorted(
            ((float(dict(labels)["le"]), v) for (n, labels), v in samples.items()
             if n == "switchboard_delivery_latency_seconds_bucket" and dict(labels)["shard"] == shard),
        )
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), buckets
        assert len(buckets) >= 10


def test_metric_values_move_after_traffic(start_server):
    server = start_server("--shards", "2")
    _, before = parse(scrape(server))
    agent = chat(server, "agent:agent-m")
    visitor = chat(server, "metrics-visitor")
    waiting = chat(server, "metrics-waiter")
    try:
        # Let the router know the agent (a decline for no conversation answers an error).
        agent.send(json.dumps({"type": "decline_transfer", "conv": 9000000001}))
        recv_until(agent, lambda f: f["type"] == "error", "the router barrier")
        agent.send(json.dumps({"type": "agent_status", "status": "online", "capacity": 1}))
        agent.send(json.dumps({"type": "decline_transfer", "conv": 9000000001}))
        recv_until(agent, lambda f: f["type"] == "error", "the router barrier")
        visitor.send(json.dumps({"type": "start"}))
        snapshot = recv_until(visitor, lambda f: f["type"] == "conversation", "a snapshot")
        conv = snapshot["conv"]
        recv_until(visitor, lambda f: f.get("event") == "assigned", "the assignment")
        for i in range(10):
            visitor.send(json.dumps({"type": "send", "conv": conv, "client_msg_id": f"m{i}", "body": "hi"}))
            recv_until(visitor, lambda f: f["type"] == "sent", "sent")
            recv_until(agent, lambda f: f["type"] == "message" and f["client_msg_id"] == f"m{i}", "the message")
        # A second visitor waits: the agent's capacity is 1.
        waiting.send(json.dumps({"type": "start"}))
        recv_until(waiting, lambda f: f["type"] == "conversation", "a snapshot")

        def moved(samples):
            return (
                total(samples, "switchboard_connections") == 3
                and total(samples, "switchboard_accepts_total") >= total(before, "switchboard_accepts_total") + 3
                and total(samples, "switchboard_messages_in_total") >= total(before, "switchboard_messages_in_total") + 14
                and total(samples, "switchboard_messages_out_total") > total(before, "switchboard_messages_out_total") + 20
                and total(samples, "switchboard_deliveries_total") >= total(before, "switchboard_deliveries_total") + 10
                and total(samples, "switchboard_delivery_latency_seconds_count") >= 10
                and total(samples, "switchboard_delivery_latency_seconds_sum") > 0
                and value(samples, "switchboard_conversations", state="serving") == 1
                and value(samples, "switchboard_conversations", state="waiting") == 1
                and value(samples, "switchboard_queue_length") == 1
            )

        poll(server, moved, "showed the traffic")

        # The degradation level, pinned through the control API, shows up too.
        request = urllib.request.Request(
            f"http://{server.control}/v1/degradation",
            data=json.dumps({"level": 2}).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert response.status == 200
        poll(server, lambda s: value(s, "switchboard_degradation_level") == 2, "showed level 2")
    finally:
        for ws in (agent, visitor, waiting):
            ws.close()
    poll(server, lambda s: total(s, "switchboard_connections") == 0, "went back to 0 connections")


def dashboard_metric_names():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for key, item in node.items():
                if key in ("expr", "query") and isinstance(item, str):
                    exprs.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    names = set()
    for expr in exprs:
        names.update(re.findall(r"\b(switchboard_[a-z0-9_]+)", expr))
    return dashboard, exprs, names


def test_the_grafana_dashboard_queries_only_metrics_the_engine_exports(start_server):
    dashboard, exprs, names = dashboard_metric_names()
    assert dashboard.get("schemaVersion", 0) >= 36, dashboard.get("schemaVersion")
    assert any(v.get("name") == "DS_PROMETHEUS" for v in dashboard.get("__inputs", [])) or any(
        v.get("name") == "DS_PROMETHEUS" for v in dashboard.get("templating", {}).get("list", [])
    ), "no DS_PROMETHEUS datasource variable"
    assert len(exprs) >= 10, exprs
    server = start_server("--shards", "2")
    text = scrape(server)
    parse(text)  # it must parse
    # The names Prometheus stores are the exposition's own (the Python parser renames a
    # counter without `_total`, e.g. switchboard_uptime_seconds, to `..._total`).
    exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))
    missing = sorted(name for name in names if name not in exported)
    assert not missing, f"the dashboard queries metrics the engine does not export: {missing}"
    # Every panel's datasource is the variable, never a hard-coded uid.
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
