/**
 * The demo shop's loader: writes the widget's script tag from the page's query string,
 * so one static page can be pointed at any engine and visitor:
 * `?server=http://127.0.0.1:8080&token=vera&lang=zh-CN&prechat=name,order&color=%23b91c1c`.
 * Without `token`, a random visitor id is kept in localStorage (the development
 * authenticator takes any token as the user id).
 */

const q = new URLSearchParams(location.search);

function visitorToken(): string {
  const key = 'sb-demo-visitor';
  let t = localStorage.getItem(key);
  if (!t) {
    t = `visitor-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem(key, t);
  }
  return t;
}

const s = document.createElement('script');
s.src = new URL('../sdk/widget.js', location.href).href;
s.dataset['token'] = q.get('token') ?? visitorToken();
s.dataset['prechat'] = q.get('prechat') ?? 'name,contact,order';
for (const k of ['server', 'lang', 'color', 'title'] as const) {
  const v = q.get(k);
  if (v) s.dataset[k] = v;
}
const lang = q.get('lang');
if (lang) document.documentElement.lang = lang;
document.head.append(s);
