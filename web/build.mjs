// Builds web/dist/ (or the directory given as the first argument) from source: the SDK
// as an ES module and a browser bundle, the widget, the console, the demo page, and
// manifest.json. Output depends only on the sources and the pinned esbuild, so the
// committed dist/ can be checked by rebuilding (tests/dist-is-fresh.test.mjs).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, 'dist'));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const common = {
  bundle: true,
  minify: true,
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
};

async function bundles() {
  await build({ ...common, entryPoints: [join(here, 'sdk/src/index.ts')], format: 'esm', outfile: join(out, 'sdk/switchboard.mjs') });
  await build({ ...common, entryPoints: [join(here, 'sdk/src/index.ts')], format: 'iife', globalName: 'Switchboard', outfile: join(out, 'sdk/switchboard.js') });
  await build({ ...common, entryPoints: [join(here, 'widget/src/widget.ts')], format: 'iife', outfile: join(out, 'sdk/widget.js') });
  await build({ ...common, entryPoints: [join(here, 'widget/src/widget.css')], outfile: join(out, 'sdk/widget.css') });
  await build({ ...common, entryPoints: [join(here, 'console/src/console.ts')], format: 'iife', outfile: join(out, 'console/console.js') });
  await build({ ...common, entryPoints: [join(here, 'console/src/console.css')], outfile: join(out, 'console/console.css') });
  await build({ ...common, entryPoints: [join(here, 'demo/demo.ts')], format: 'iife', outfile: join(out, 'demo/demo.js') });
}

function statics() {
  cpSync(join(here, 'demo/index.html'), join(out, 'demo/index.html'));
  cpSync(join(here, 'demo/demo.css'), join(out, 'demo/demo.css'));
  cpSync(join(here, 'console/index.html'), join(out, 'console/index.html'));
  cpSync(join(here, 'console/canned.json'), join(out, 'console/canned.json'));
}

function files(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function manifest() {
  const list = files(out).map((p) => {
    const path = relative(out, p).split('\\').join('/');
    const ext = path.slice(path.lastIndexOf('.'));
    const type = TYPES[ext];
    if (!type) throw new Error(`no content type for ${path}`);
    const body = readFileSync(p);
    return { path, content_type: type, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  });
  const doc = { version: 1, index: 'index.html', files: list };
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(doc, null, 2) + '\n');
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await bundles();
statics();
manifest();
