"""Fuzzes the control API of a real `switchboard serve` from its own OpenAPI document.

Every operation in control-api/openapi.yaml gets at most 50 generated requests (valid
and invalid) with the bearer token; the node must never answer 5xx and must stay up.
Draining is fuzzed last on a node of its own, since it changes the node for good.
Skipped only when the binary has no `--control-listen` flag yet.
"""

import socket
import tempfile
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import Server, binary_path

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

OPENAPI = Path(__file__).resolve().parents[2] / "control-api" / "openapi.yaml"
TOKEN = "fuzz-token-0123456789abcdef"
MAX_EXAMPLES = 50


def _knows_control_listen() -> bool:
    try:
        out = subprocess.run(
            [str(binary_path()), "serve", "--help"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--control-listen" in out.stdout


pytestmark = pytest.mark.skipif(
    not _knows_control_listen(),
    reason="the switchboard binary has no --control-listen flag (control API not wired yet)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlNode:
    """A node with its control API on a free loopback port."""

    def __init__(self):
        self.port = _free_port()
        # A durable node (its own data directory), so that the endpoints served from the
        # store (a conversation's items) are fuzzed too, not only their "no store" answer.
        self.data_dir = tempfile.TemporaryDirectory(prefix="sb-fuzz-")
        self.server = Server(
            "--control-listen", f"127.0.0.1:{self.port}", "--control-token", TOKEN,
            "--data-dir", self.data_dir.name, "--durability", "sync",
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.server.stop()
                    raise RuntimeError("control API did not come up; stderr:\n" + "".join(self.server.stderr_lines))
                time.sleep(0.05)

    def check(self, case):
        response = case.call(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )
        assert self.server.proc.poll() is None, "the node died; stderr:\n" + "".join(self.server.stderr_lines)


@pytest.fixture(scope="module")
def node():
    n = ControlNode()
    yield n
    n.server.stop()
    n.data_dir.cleanup()
    assert n.server.proc.returncode in (0, -15), "".join(n.server.stderr_lines)


@pytest.fixture(scope="module")
def draining_node():
    n = ControlNode()
    yield n
    n.server.stop()
    n.data_dir.cleanup()


schema = schemathesis.openapi.from_path(str(OPENAPI))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.exclude(method="POST", path="/v1/drain").parametrize()
@FUZZ
def test_no_5xx(case, node):
    node.check(case)


@schema.include(method="POST", path="/v1/drain").parametrize()
@FUZZ
def test_drain_no_5xx(case, draining_node):
    draining_node.check(case)
    # The control API keeps answering while the node drains.
    status = requests.get(f"{draining_node.base_url}/v1/drain",
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert status.status_code == 200, status.text
