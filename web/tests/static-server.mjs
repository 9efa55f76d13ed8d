// Serves web/dist/ the way the engine is asked to (docs in web/README.md): each file of
// manifest.json at its path with its content type, `/demo/` and `/console/` as their
// index.html, the strict Content-Security-Policy on every answer. Used by the browser
// tests until the engine serves /demo/ itself. Hand-written (node:http, ~40 lines)
// because it must follow our manifest exactly, which a generic static server would not.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

/** The Content-Security-Policy the engine will send with these files. */
export const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:";

/** Starts a server for `dir` on a free loopback port; resolves to { url, close() }. */
export async function serveDist(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const types = new Map(manifest.files.map((f) => [f.path, f.content_type]));
  types.set('manifest.json', 'application/json');
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
    if (path === '' || path.endsWith('/')) path += manifest.index;
    const type = types.get(path);
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (!type || req.method !== 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache' }).end(readFileSync(join(dir, path)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(() => r())) };
}
