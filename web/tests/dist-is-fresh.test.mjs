// web/dist/ is what the engine serves, so it is committed; this rebuilds it into a
// temporary directory with the pinned tools and fails if any file differs or is
// missing or extra — a change to a source without `web/build` is caught here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');

function tree(root, dir = root) {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tree(root, p) : [relative(root, p).split('\\').join('/')];
  });
}

test('the committed web/dist/ is exactly what web/build produces', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sb-dist-'));
  try {
    execFileSync(process.execPath, [join(web, 'build.mjs'), tmp], { stdio: 'inherit' });
    const committed = join(web, 'dist');
    const built = tree(tmp);
    assert.deepEqual(tree(committed), built, 'same files');
    for (const f of built) {
      assert.ok(readFileSync(join(committed, f)).equals(readFileSync(join(tmp, f))), `${f} is stale: run web/build and commit dist/`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the manifest lists every served file with a content type', () => {
  const m = JSON.parse(readFileSync(join(web, 'dist/manifest.json'), 'utf8'));
  const listed = m.files.map((f) => f.path).sort();
  assert.deepEqual(listed, tree(join(web, 'dist')).filter((p) => p !== 'manifest.json'));
  for (const f of m.files) assert.match(f.content_type, /^(text\/(html|css|javascript); charset=utf-8|application\/json|image\/(png|svg\+xml))$/);
  for (const must of ['demo/index.html', 'console/index.html', 'sdk/switchboard.js', 'sdk/widget.js']) assert.ok(listed.includes(must), must);
});

test('the pages carry no inline script or style, so the strict CSP holds', () => {
  for (const page of ['demo/index.html', 'console/index.html']) {
    const html = readFileSync(join(web, 'dist', page), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${page}: inline script`);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, `${page}: inline style or handler`);
    for (const m of html.matchAll(/(?:src|href)="([^"#]+)"/g)) assert.doesNotMatch(m[1], /^(\/|https?:)/, `${page}: ${m[1]} must be relative`);
  }
});
