// Opens the demo shop (visitor widget) and the agent console in a browser context,
// pointed at the engine, and reads what they show through the stable data-testid hooks.

/** Opens the demo page as visitor `token`; `query` adds settings (lang, prechat, ...). */
export async function visitorPage(context, site, engine, token, query = {}) {
  const page = context.pages()[0] && context.pages()[0].url() === 'about:blank' ? context.pages()[0] : await context.newPage();
  const q = new URLSearchParams({ server: engine.http, token, prechat: 'none', ...query });
  await page.goto(`${site.url}/demo/?${q}`);
  await page.getByTestId('sb-open').waitFor();
  return page;
}

/** Opens the console and signs in as agent `name` (development sign-in). */
export async function consolePage(context, site, engine, name, query = {}) {
  const page = await context.newPage();
  const q = new URLSearchParams({ server: engine.http, ...query });
  await page.goto(`${site.url}/console/?${q}`);
  await page.getByTestId('sb-signin-token').fill(name);
  await page.getByTestId('sb-signin').click();
  await page.getByTestId('sb-conv-list').waitFor();
  return page;
}

/** The bodies of the widget's confirmed messages (those with a data-seq), in order. */
export async function widgetLines(page) {
  return page.getByTestId('sb-messages').locator('.sb-msg[data-seq] .sb-body').allTextContents();
}

/** The bodies in the console pane of `conv`, in order. */
export async function paneLines(page, conv) {
  return page.locator(`.pane[data-conv="${conv}"]`).getByTestId('sb-thread').locator('.sb-msg[data-seq] .sb-body').allTextContents();
}

/** The data-seq values of a list's items, as numbers. */
export async function seqs(list) {
  return (await list.locator('[data-seq]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq')))));
}
