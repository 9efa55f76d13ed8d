// A TCP proxy on a free loopback port in front of the engine, so a test can cut a
// client's connection (the engine sees a real TCP close), refuse new ones, or swallow
// what the engine sends (a `sent` that never arrives) — real sockets, no fakes.
import { createServer, connect } from 'node:net';

/** Starts a proxy to `target` ("host:port"). */
export async function startProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const pairs = new Set();
  const state = { refuse: false, swallowDownstream: false };
  const server = createServer((client) => {
    if (state.refuse) return client.destroy();
    const upstream = connect(port, host);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!state.swallowDownstream) client.write(d);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const addr = `127.0.0.1:${server.address().port}`;
  return {
    addr,
    http: `http://${addr}`,
    /** Drops every open connection (both directions). */
    cut() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
    },
    /** Refuses (closes at once) new connections while true. */
    refuse(on) {
      state.refuse = on;
    },
    /** Drops the engine's bytes instead of forwarding them while true. */
    swallowDownstream(on) {
      state.swallowDownstream = on;
    },
    /** How many connections are open. */
    get open() {
      return pairs.size;
    },
    close() {
      this.cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
