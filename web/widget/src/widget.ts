/**
 * The visitor widget: `<script src=".../sdk/widget.js" data-server=... data-token=...>`
 * draws a chat bubble in a shadow root (so the shop's CSS and ours do not mix), and
 * a panel with the conversation. Settings are the script's data attributes (see
 * web/widget/README.md); the stylesheet is `widget.css` beside the script, linked, not
 * inlined, so the page's Content-Security-Policy need not allow inline styles.
 */

import { SwitchboardClient } from '../../sdk/src/index.js';
import { pickLang } from '../../ui/lang.js';
import { prechatFields } from '../../ui/prechat.js';
import { WidgetView } from './view.js';

/** The widget's settings, from the script tag. */
export interface WidgetConfig {
  server: string;
  token: string | undefined;
  tokenEndpoint: string | undefined;
  lang: string | null;
  color: string | null;
  prechat: string | null;
  title: string | null;
  stylesheet: string;
}

function readConfig(script: HTMLScriptElement | null): WidgetConfig {
  const d = script?.dataset ?? {};
  const src = script?.src ?? document.baseURI;
  return {
    server: d['server'] ?? new URL(src, document.baseURI).origin,
    token: d['token'],
    tokenEndpoint: d['tokenEndpoint'],
    lang: d['lang'] ?? null,
    color: d['color'] ?? null,
    prechat: d['prechat'] ?? null,
    title: d['title'] ?? null,
    stylesheet: new URL('widget.css', src).href,
  };
}

/** A token from the shop's endpoint: JSON `{"token": "..."}` or the plain text. */
function endpointProvider(url: string): () => Promise<string> {
  return async () => {
    const res = await fetch(url, { credentials: 'include' });
    if (!res.ok) throw new Error(`token endpoint: HTTP ${res.status}`);
    const text = (await res.text()).trim();
    try {
      const v = JSON.parse(text) as { token?: unknown };
      if (typeof v.token === 'string') return v.token;
    } catch {
      // Not JSON: the body is the token.
    }
    return text;
  };
}

function mount(config: WidgetConfig): WidgetView {
  const init: ConstructorParameters<typeof SwitchboardClient>[0] = { server: config.server };
  if (config.token) init.token = config.token;
  else if (config.tokenEndpoint) init.tokenProvider = endpointProvider(config.tokenEndpoint);
  else throw new Error('switchboard widget: set data-token or data-token-endpoint');
  const client = new SwitchboardClient(init);
  const host = document.createElement('div');
  host.className = 'switchboard-widget';
  document.body.append(host);
  const view = new WidgetView(host, client, {
    lang: pickLang(config.lang), color: config.color, prechat: prechatFields(config.prechat), title: config.title,
    stylesheet: config.stylesheet,
  });
  client.connect();
  return view;
}

const script = document.currentScript as HTMLScriptElement | null;
const start = () => {
  try {
    const view = mount(readConfig(script));
    (window as { switchboardWidget?: WidgetView }).switchboardWidget = view;
  } catch (err) {
    console.error(err);
  }
};
if (document.body) start();
else document.addEventListener('DOMContentLoaded', start, { once: true });
