"""Starts the real `switchboard` binary for the Python client tests.

With `SWITCHBOARD_TLS=1` every server gets `--tls-cert`/`--tls-key` from a test CA
made with `openssl` (trusted through `SSL_CERT_FILE`, which the ssl module's default
context reads), and `Server.url` is `wss://`: the whole suite then runs over TLS.

The binary is `$SWITCHBOARD_BIN`, else `$CARGO_TARGET_DIR/debug/switchboard`, else
`<repo>/target/debug/switchboard`. Every server is started on 127.0.0.1:0 and is
terminated (SIGTERM, then SIGKILL) when the test ends.
"""

import ctypes
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

START_TIMEOUT = 20.0
LISTENING = re.compile(r"^listening on (\S+):(\d+) shards=(\d+)$")


def binary_path() -> Path:
    env = os.environ.get("SWITCHBOARD_BIN")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[2]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    if not target.is_absolute():
        target = root / target
    return target / "debug" / "switchboard"


_TLS_FLAGS: list[str] = []


def tls_flags() -> list[str]:
    """`--tls-cert`/`--tls-key` of a test CA's certificate, made once per session."""
    if not _TLS_FLAGS:
        import tempfile

        directory = tempfile.mkdtemp(prefix="sb-pytest-tls-")

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pytest CA")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
        with open(os.path.join(directory, "ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "srv.pem")
        os.environ["SSL_CERT_FILE"] = os.path.join(directory, "ca.pem")
        _TLS_FLAGS.extend(["--tls-cert", os.path.join(directory, "srv.pem"),
                           "--tls-key", os.path.join(directory, "srv.key"),
                           # No session tickets: the sync `websockets` client reads a
                           # ticket on one thread while writing its request on another,
                           # which OpenSSL does not allow (~2 % of connections hang).
                           "--tls-tickets", "0"])
    return _TLS_FLAGS


def tls_on() -> bool:
    return os.environ.get("SWITCHBOARD_TLS") == "1"


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the server goes if the test process dies without cleanup.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Server:
    """A running `switchboard serve` process."""

    def __init__(self, *args: str):
        binary = binary_path()
        if not binary.exists():
            raise RuntimeError(f"no switchboard binary at {binary} (set SWITCHBOARD_BIN or cargo build)")
        # Servers run side by side: the control API gets a free port too unless asked.
        wants_control = "--control-listen" not in args
        control_args = ["--control-listen", "127.0.0.1:0"] if wants_control else []
        # A busy debug build on a shared machine is not pressure to shed (see the Rust harness).
        if not any(a.startswith("--budget-") for a in args):
            control_args += ["--budget-loop-lag-ms", "600000"]
        # Servers run side by side: never on a shared ./switchboard-data (memory only
        # unless the test chooses).
        if not any(a.startswith(("--data-dir", "--durability")) for a in args):
            control_args += ["--durability", "off"]
        # tests/run-all runs the suite once per I/O driver.
        driver = os.environ.get("SWITCHBOARD_IO_DRIVER")
        if driver and "--io-driver" not in args:
            control_args += ["--io-driver", driver]
        if tls_on() and "--tls-cert" not in args:
            control_args += tls_flags()
        self.control = None
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", *control_args, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
        )
        self.stderr_lines: list[str] = []
        lines: "queue.Queue[str | None]" = queue.Queue()

        def pump_stdout():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        def pump_stderr():
            for line in self.proc.stderr:
                self.stderr_lines.append(line)

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                self.stop()
                raise RuntimeError("no `listening on` line; stderr:\n" + "".join(self.stderr_lines))
            if line is None:
                self.stop()
                raise RuntimeError("server exited before listening; stderr:\n" + "".join(self.stderr_lines))
            match = LISTENING.match(line.strip())
            if match:
                self.host, self.port, self.shards = match[1], int(match[2]), int(match[3])
                if not wants_control:
                    break
            if line.startswith("control on "):
                self.control = line.strip()[len("control on "):]
                if getattr(self, "port", None):
                    break

    def url(self, path: str) -> str:
        scheme = "wss" if tls_on() else "ws"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def start_server():
    """Returns a function that starts a server with the given flags; all are stopped at teardown."""
    servers: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(*args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
