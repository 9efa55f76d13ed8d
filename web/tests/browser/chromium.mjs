// Launches the system Chromium (/usr/bin/chromium) through playwright-core, headless,
// each context in its own fresh --user-data-dir, with the flags the project uses.
// Nothing here downloads a browser.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** A persistent context in a new profile; `close()` also removes the profile. */
export async function newBrowser(viewport = { width: 1280, height: 800 }) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS, viewport,
  });
  const violations = [];
  context.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  return {
    context,
    violations,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
