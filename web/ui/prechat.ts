/**
 * The pre-chat form's answers travel as the conversation's first chat line, so they
 * need no engine support and stay in the history an agent sees after a transfer:
 *
 *     [pre-chat]
 *     name: Alice
 *     contact: alice@example.com
 *     order: A-17
 *
 * Keys are fixed English field names whatever the visitor's language; the console
 * recognises the first line and shows the fields as visitor details.
 */

/** The fields the form may ask for. */
export const PRECHAT_FIELDS = ['name', 'contact', 'order'] as const;
/** One of them. */
export type PrechatField = (typeof PRECHAT_FIELDS)[number];

const HEADER = '[pre-chat]';

/** The first line for these answers (empty answers left out). */
export function prechatLine(answers: Partial<Record<PrechatField, string>>): string {
  const lines = PRECHAT_FIELDS.flatMap((f) => {
    const v = (answers[f] ?? '').replace(/\s+/g, ' ').trim();
    return v ? [`${f}: ${v}`] : [];
  });
  return [HEADER, ...lines].join('\n');
}

/** The answers in a chat line, or `undefined` when it is not a pre-chat line. */
export function parsePrechat(body: string): Partial<Record<PrechatField, string>> | undefined {
  const [head, ...rest] = body.split('\n');
  if (head !== HEADER) return undefined;
  const out: Partial<Record<PrechatField, string>> = {};
  for (const line of rest) {
    const i = line.indexOf(': ');
    const key = line.slice(0, i) as PrechatField;
    if (i > 0 && (PRECHAT_FIELDS as readonly string[]).includes(key)) out[key] = line.slice(i + 2);
  }
  return out;
}

/** The fields named by a `data-prechat` value such as `name,order`; unknown names are dropped. */
export function prechatFields(attr: string | null | undefined): PrechatField[] {
  if (!attr) return [];
  return attr.split(',').map((s) => s.trim()).filter((s): s is PrechatField => (PRECHAT_FIELDS as readonly string[]).includes(s));
}
