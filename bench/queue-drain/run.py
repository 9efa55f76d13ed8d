#!/usr/bin/env python3
"""bench/queue-drain: a sale-day queue, drained.

N visitors connect, each sends `start` and waits in the queue with no agent online;
then A agents connect (capacity C each) and end every conversation HOLD ms after it
is assigned to them, so the queue drains at a steady rate. Reported, per run:

- drain time (the agents' arrival to the last visitor's `ended`) and assignments/s;
- server CPU per assignment (every thread of every node over the drain, so it is an
  upper bound on the router's share), and the same at a short queue in the same
  invocation: with O(agents) assignment it does not grow with the queue's length;
- frames per visitor: ephemeral `queue` frames, `queue_position` items (none expected:
  later places are not items) and all frames, mean and max;
- RSS of each node with the queue full and its peak (VmHWM);
- cluster mode (several nodes on one Redis): Redis commands per assignment, from
  INFO commandstats around the drain — a constant, independent of the queue's length.

The clients are Python `websockets` (not the engine's code), spread over worker
processes pinned to other CPUs than the nodes. Everything started here runs on
127.0.0.1, is bounded in time and is stopped by its PID at the end.

    bench/queue-drain/run.py [--visitors 2000,19000] [--nodes 1] [--agents 100]
        [--capacity 5] [--hold-ms 200] [--durability off] [--doc docs/performance.md]

With `--nodes K > 1` the nodes run in cluster mode on a real redis-server and the
visitors and agents are spread evenly over them (one node holds ~19,900 descriptors
here, so 20,000 visitors need two). Needs: a release build (`cargo build --release
-p switchboard-engine`), Python with `websockets` (tests' venv: target/py-venv).
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TCK = os.sysconf("SC_CLK_TCK")


# --- processes we start -------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def stop(proc):
    """SIGTERM by PID, then SIGKILL after 3 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_node(binary, args, cpu, workdir, name):
    out = open(os.path.join(workdir, f"{name}.out"), "w+")
    err = open(os.path.join(workdir, f"{name}.err"), "w")
    proc = subprocess.Popen(
        ["taskset", "-c", str(cpu), binary, "serve", *args], stdout=out, stderr=err
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        out.seek(0)
        m = re.search(r"listening on (127\.0\.0\.1:\d+)", out.read())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"node {name} did not start: {open(err.name).read()[-2000:]}")


def start_redis(workdir):
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if redis_call(port, "PING") == "+PONG":
            return proc, port
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("redis-server did not answer")


def redis_call(port, *words):
    """One inline command over a fresh connection; the raw reply (enough for INFO)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall((" ".join(words) + "\r\n").encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"$"):
                    head, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(head[1:]) + 2:
                        return rest[: int(head[1:])].decode()
                elif data.endswith(b"\r\n"):
                    return data.decode().strip()
    except OSError:
        return None


def redis_commands(port):
    """Calls per command (INFO commandstats), without our own INFO calls."""
    info = redis_call(port, "INFO", "commandstats") or ""
    calls = {}
    for m in re.finditer(r"^cmdstat_([a-z|]+):calls=(\d+)", info, re.M):
        if m.group(1) != "info":
            calls[m.group(1)] = int(m.group(2))
    return calls


def per_assignment(before, after, n):
    """Commands per assignment over the drain: the total and the commonest commands."""
    diff = {k: v - before.get(k, 0) for k, v in after.items()}
    diff = {k: v for k, v in diff.items() if v > 0}
    top = sorted(diff.items(), key=lambda kv: -kv[1])[:6]
    return (round(sum(diff.values()) / max(n, 1), 2),
            {k: round(v / max(n, 1), 2) for k, v in top})


# --- the clients (worker processes) -------------------------------------------------


async def visitor(url, user, gate, counts, queued, go_ended):
    from websockets.asyncio.client import connect

    async with gate:  # bounds the connect burst, not the held connections
        ws = await connect(f"{url}?token={user}", compression=None, ping_interval=None,
                           open_timeout=120, max_queue=None)
    async with ws:
        json.loads(await ws.recv())  # welcome
        await ws.send('{"type":"start"}')
        frames = queue_frames = position_items = 0
        async for raw in ws:
            frame = json.loads(raw)
            frames += 1
            kind = frame.get("type")
            if kind == "queue":
                queue_frames += 1
            elif kind == "error":
                raise RuntimeError(f"error frame: {raw}")
            elif kind == "system":
                event = frame.get("event")
                if event == "queued":
                    queued()
                elif event == "queue_position":
                    position_items += 1
                elif event == "ended":
                    break
        counts.append((frames, queue_frames, position_items))
        go_ended()


def visitor_worker(index, url, users, concurrency, report):
    """Runs its visitors; reports 'queued' counts as they come and its totals at the end."""

    async def main():
        counts = []
        state = {"queued": 0, "last_end": 0.0, "failed": 0}
        gate = asyncio.Semaphore(concurrency)

        def queued():
            state["queued"] += 1
            if state["queued"] % 500 == 0 or state["queued"] == len(users):
                report.put(("queued", index, state["queued"]))

        def ended():
            state["last_end"] = time.time()

        async def one(user):
            try:
                await visitor(url, user, gate, counts, queued, ended)
            except Exception as exc:  # noqa: BLE001 - a failed visitor is counted and shown
                state["failed"] += 1
                if state["failed"] <= 3:
                    print(f"visitor {user}: {exc!r}", file=sys.stderr)

        await asyncio.gather(*(one(u) for u in users))
        report.put(("done", counts, state["last_end"], state["failed"]))

    asyncio.run(main())


def agent_worker(urls, users, capacity, hold_ms, go, report):
    """Waits for `go`, connects its agents online, ends each assignment after hold_ms."""
    from websockets.asyncio.client import connect

    async def agent(url, user, stats):
        async with connect(f"{url}?token=agent:{user}", compression=None,
                           ping_interval=None, open_timeout=60, max_queue=None) as ws:
            json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "agent_status", "status": "online",
                                      "capacity": capacity}))
            seen = set()

            async def end_later(conv):
                await asyncio.sleep(hold_ms / 1000)
                await ws.send(json.dumps({"type": "end", "conv": conv}))

            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "system" and frame.get("event") == "assigned":
                    conv = frame["conv"]
                    if conv not in seen:
                        seen.add(conv)
                        stats["assigned"] += 1
                        asyncio.ensure_future(end_later(conv))

    async def main():
        while not go.is_set():
            await asyncio.sleep(0.01)
        stats = {"assigned": 0}
        tasks = [asyncio.ensure_future(agent(urls[i % len(urls)], u, stats))
                 for i, u in enumerate(users)]
        while True:
            await asyncio.sleep(0.5)
            report.put(("assigned", stats["assigned"]))
            if all(t.done() for t in tasks):
                break

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# --- one run --------------------------------------------------------------------------


def client_cpus(node_cpus):
    cpus = sorted(os.sched_getaffinity(0))
    others = [c for c in cpus if c not in node_cpus]
    return others or cpus


def run_once(opts, visitors, binary, workdir):
    ncpu = os.cpu_count() or 1
    node_cpus = sorted({i % max(1, ncpu - 1) for i in range(opts.nodes)}) if ncpu > 1 else [0]
    procs, redis, redis_port = [], None, None
    try:
        common = ["--listen", "127.0.0.1:0", "--shards", "1", "--control-listen", "off",
                  "--agent-capacity", str(opts.capacity), "--budget-connections", "1000000",
                  "--queue-position-interval-ms", str(opts.interval_ms), "--ebpf", "off"]
        if opts.nodes > 1:
            redis, redis_port = start_redis(workdir)
            common += ["--redis", f"redis://127.0.0.1:{redis_port}/"]
        else:
            common += ["--durability", opts.durability,
                       "--data-dir", os.path.join(workdir, f"data-{visitors}")]
        urls = []
        for i in range(opts.nodes):
            args = common + (["--node-name", f"q{i + 1}"] if opts.nodes > 1 else [])
            proc, addr = start_node(binary, args, node_cpus[i % len(node_cpus)], workdir,
                                    f"node{i + 1}-{visitors}")
            procs.append(proc)
            urls.append(f"ws://{addr}/v1/ws")
            if i == 0 and opts.nodes > 1:
                time.sleep(1)  # the first node takes the router lease
        return drive(opts, visitors, procs, urls, redis_port, node_cpus)
    finally:
        for proc in procs:
            stop(proc)
        if redis:
            stop(redis)


def drive(opts, visitors, procs, urls, redis_port, node_cpus):
    prefix = f"qd{os.getpid()}x{visitors}-"
    report = mp.Queue()
    go = mp.Event()
    cpus = client_cpus(node_cpus)
    workers = []
    per = -(-visitors // opts.visitor_procs)
    for w in range(opts.visitor_procs):
        users = [f"{prefix}v{i}" for i in range(w * per, min(visitors, (w + 1) * per))]
        url = urls[w % len(urls)]
        p = mp.Process(target=visitor_worker, args=(w, url, users, 200, report), daemon=True)
        workers.append(p)
    agents = [f"{prefix}a{i}" for i in range(opts.agents)]
    agent_proc = mp.Process(target=agent_worker,
                            args=(urls, agents, opts.capacity, opts.hold_ms, go, report),
                            daemon=True)
    for p in [*workers, agent_proc]:
        p.start()
        os.sched_setaffinity(p.pid, cpus)

    started = time.time()
    queued = {}
    while sum(queued.values()) < visitors:
        if time.time() - started > opts.timeout_s:
            raise RuntimeError(f"only {sum(queued.values())} of {visitors} queued in time")
        try:
            msg = report.get(timeout=1)
        except Exception:  # noqa: BLE001 - queue.Empty
            continue
        if msg[0] == "queued":
            queued[msg[1]] = msg[2]
    fill_s = time.time() - started
    time.sleep(1)
    rss_full = [status_kib(p.pid, "VmRSS") for p in procs]
    cpu0 = sum(cpu_seconds(p.pid) for p in procs)
    cmds0 = redis_commands(redis_port) if redis_port else None
    go_at = time.time()
    go.set()

    done, assigned = [], 0
    while len(done) < len(workers):
        if time.time() - go_at > opts.timeout_s:
            raise RuntimeError(f"drain did not finish: {assigned} assigned")
        try:
            msg = report.get(timeout=1)
        except Exception:  # noqa: BLE001 - queue.Empty
            continue
        if msg[0] == "done":
            done.append(msg)
        elif msg[0] == "assigned":
            assigned = msg[1]
    cpu1 = sum(cpu_seconds(p.pid) for p in procs)
    cmds1 = redis_commands(redis_port) if redis_port else None
    hwm = [status_kib(p.pid, "VmHWM") for p in procs]
    last_end = max(m[2] for m in done)
    failed = sum(m[3] for m in done)
    counts = [c for m in done for c in m[1]]
    for p in workers:
        p.join(5)
    agent_proc.terminate()
    agent_proc.join(5)

    drain_s = last_end - go_at
    n = len(counts)
    result = {
        "visitors": visitors, "nodes": opts.nodes, "agents": opts.agents,
        "capacity": opts.capacity, "hold_ms": opts.hold_ms,
        "durability": opts.durability if opts.nodes == 1 else "redis",
        "failed": failed, "ended": n, "fill_s": round(fill_s, 1),
        "drain_s": round(drain_s, 2),
        "assignments_per_s": round(n / drain_s) if drain_s > 0 else None,
        "server_cpu_us_per_assignment": round((cpu1 - cpu0) * 1e6 / max(n, 1), 1),
        "queue_frames_mean": round(sum(c[1] for c in counts) / max(n, 1), 2),
        "queue_frames_max": max((c[1] for c in counts), default=0),
        "queue_position_items": sum(c[2] for c in counts),
        "frames_mean": round(sum(c[0] for c in counts) / max(n, 1), 2),
        "frames_max": max((c[0] for c in counts), default=0),
        "rss_full_mib": round(sum(rss_full) / 1024, 1),
        "rss_peak_mib": round(sum(hwm) / 1024, 1),
    }
    if cmds0 is not None:
        total, top = per_assignment(cmds0, cmds1, n)
        result["redis_cmds_per_assignment"] = total
        result["redis_cmds_by_command"] = top
    return result


# --- the report ---------------------------------------------------------------------


def table(results, opts, command):
    nodes = results[0]["nodes"] if results else opts.nodes
    where = "one node" if nodes == 1 else f"{nodes} nodes in cluster mode on one redis-server"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    when = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
    lines = [
        f"## A sale-day queue, drained: {where} (bench/queue-drain)",
        "",
        f"{when}, commit {commit}. Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs; nodes pinned to CPU(s) apart from the Python "
        "clients; release build; "
        f"{opts.agents} agents of capacity {opts.capacity}, each ending a conversation "
        f"{opts.hold_ms} ms after it is assigned; queue places coalesced every "
        f"{opts.interval_ms} ms.",
        "",
        "| visitors queued | nodes | store | drain s | assignments/s | server CPU µs / assignment "
        "| `queue` frames / visitor (mean, max) | `queue_position` items | frames / visitor "
        "(mean, max) | RSS queue full MiB | RSS peak MiB | Redis cmds / assignment | failed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['visitors']:,} | {r['nodes']} | {r['durability']} | {r['drain_s']} "
            f"| {r['assignments_per_s']:,} | {r['server_cpu_us_per_assignment']} "
            f"| {r['queue_frames_mean']}, {r['queue_frames_max']} | {r['queue_position_items']} "
            f"| {r['frames_mean']}, {r['frames_max']} | {r['rss_full_mib']} | {r['rss_peak_mib']} "
            f"| {r.get('redis_cmds_per_assignment', '—')} | {r['failed']} |"
        )
    return "\n".join(lines) + "\n"


def splice(doc, name, content):
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = open(doc).read() if os.path.exists(doc) else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{content}{end}{tail}"
    else:
        text += f"\n{start}\n{content}{end}\n"
    with open(doc, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visitors", default="2000,19000",
                    help="comma-separated queue lengths, run one after the other")
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--capacity", type=int, default=5)
    ap.add_argument("--hold-ms", type=int, default=200)
    ap.add_argument("--interval-ms", type=int, default=1500)
    ap.add_argument("--durability", default="off", choices=["off", "async", "sync"])
    ap.add_argument("--visitor-procs", type=int, default=4)
    ap.add_argument("--timeout-s", type=float, default=240)
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/performance.md"),
                    help="file to splice the table into, or - to print only")
    ap.add_argument("--doc-section", default=None,
                    help="marker name in the doc (default: queue-drain-<nodes>n)")
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release",
        "switchboard"))
    opts = ap.parse_args()
    if not os.access(opts.bin, os.X_OK):
        sys.exit(f"{opts.bin} missing: cargo build --release -p switchboard-engine")
    results = []
    with tempfile.TemporaryDirectory(prefix="switchboard-qd.") as workdir:
        for v in (int(x) for x in opts.visitors.split(",")):
            r = run_once(opts, v, opts.bin, workdir)
            print(json.dumps(r), flush=True)
            results.append(r)
    command = "bench/queue-drain/run.py " + " ".join(sys.argv[1:])
    text = table(results, opts, command.strip())
    print(text)
    if opts.doc != "-":
        splice(opts.doc, opts.doc_section or f"queue-drain-{opts.nodes}n", text)
    bad = [r for r in results if r["failed"] or r["ended"] != r["visitors"]
           or r["queue_position_items"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
