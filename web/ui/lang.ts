/**
 * The two languages of the widget and the console, and how one is chosen: an explicit
 * setting, else the page's `lang`, else the browser's language.
 */

/** A supported language. */
export type Lang = 'en' | 'zh-CN';

/** Picks the language from `explicit`, the document, then the browser. */
export function pickLang(explicit?: string | null): Lang {
  const candidates = [explicit, document.documentElement.lang, ...(navigator.languages ?? []), navigator.language];
  for (const c of candidates) {
    if (!c) continue;
    const l = c.toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}
