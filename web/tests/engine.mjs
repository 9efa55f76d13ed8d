// Starts the real engine binary on free loopback ports for one test file, and stops it
// by PID. The binary is ${SWITCHBOARD_BIN:-../target/debug/switchboard} (relative to
// the repository root).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The engine binary the tests run. */
export function engineBinary() {
  const bin = resolve(root, process.env.SWITCHBOARD_BIN ?? 'target/debug/switchboard');
  if (!existsSync(bin)) throw new Error(`no engine binary at ${bin}: cargo build -p switchboard-engine, or set SWITCHBOARD_BIN`);
  return bin;
}

/**
 * Starts `switchboard serve` with the development authenticator and `extra` flags.
 * Resolves once it printed both addresses: { http, ws, control, pid, stop() }.
 */
export async function startEngine(extra = []) {
  const args = [
    'serve', '--listen', '127.0.0.1:0', '--control-listen', '127.0.0.1:0', '--shards', '2',
    // A debug build under test load is not the pressure the budgets are for (docs/design.md).
    '--budget-loop-lag-ms', '100000', '--log-level', 'warn',
    // Engines run side by side: memory only unless a test chooses a data directory.
    ...(extra.some((a) => a.startsWith('--data-dir') || a.startsWith('--durability'))
      ? [] : ['--durability', 'off']),
    ...extra,
  ];
  const child = spawn(engineBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const addrs = await new Promise((res, rej) => {
    const found = {};
    const timer = setTimeout(() => rej(new Error(`engine did not start in 15 s: ${stderr}`)), 15_000);
    child.on('exit', (code) => rej(new Error(`engine exited ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      const l = /^listening on (\S+)/.exec(line);
      const c = /^control on (\S+)/.exec(line);
      if (l) found.listen = l[1];
      if (c) found.control = c[1];
      if (found.listen && found.control) {
        clearTimeout(timer);
        res(found);
      }
    });
  });
  const stop = () => new Promise((res) => {
    if (child.exitCode !== null) return res();
    child.once('exit', () => res());
    process.kill(child.pid, 'SIGTERM');
    setTimeout(() => child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000).unref();
  });
  return { http: `http://${addrs.listen}`, ws: `ws://${addrs.listen}`, control: `http://${addrs.control}`, pid: child.pid, stop, stderr: () => stderr };
}

/** Calls the control API; resolves to the parsed JSON answer (or null for no body). */
export async function control(engine, method, path, body) {
  const res = await fetch(`${engine.control}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Resolves when `check()` is truthy, polling every 20 ms; rejects after `ms`. */
export async function until(check, ms = 5_000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
