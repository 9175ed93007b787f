/**
 * Small DOM and text helpers of the shares sidebar, the share status item and the
 * "Open share link…" dialog: elements with JupyterLab's classes, and times for people.
 */

/** A DOM element with a class and optional text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/**
 * A JupyterLab-styled `<button>` (`accept`: the main action, `warn`: a destructive
 * one, `reject`: the plain look). `label` is its visible text, `description` (optional)
 * its accessible name and tooltip when the text alone is ambiguous (e.g. "Copy" in a list).
 */
export function button(
  label: string,
  action: () => void,
  kind: 'accept' | 'reject' | 'warn' = 'reject',
  description?: string
): HTMLButtonElement {
  const node = el('button', `jp-Button jp-mod-styled jp-mod-${kind} jp-convshare-button`, label);
  node.type = 'button';
  if (description) {
    node.title = description;
    node.setAttribute('aria-label', description);
  }
  node.addEventListener('click', action);
  return node;
}

/** Units from the largest down, in seconds (a month is 30 days, as expiry presets count). */
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1]
];

/**
 * `iso` relative to `now` in the browser's language: "in 6 days", "2 hours ago".
 * Days are counted up to 59 ("in 30 days" for a 30 d expiry), then months.
 *
 * @param iso - an ISO 8601 time (the API's UTC strings).
 * @param now - the reference time in epoch milliseconds (default: now).
 */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'always' });
  for (const [unit, size] of UNITS) {
    const threshold = unit === 'month' ? 60 * 86400 : size;
    if (Math.abs(seconds) >= threshold || unit === 'second') {
      return format.format(Math.round(seconds / size), unit);
    }
  }
  return format.format(0, 'second');
}

/** `iso` as an absolute date and time in the browser's locale and time zone. */
export function absoluteTime(iso: string): string {
  return new Date(iso).toLocaleString();
}

/**
 * How long a share lasts, for people: "never expires", "expires in 6 days" or
 * "expired 2 hours ago" (`now` in epoch milliseconds).
 */
export function expiryText(expiresAt: string | null, now: number = Date.now()): string {
  if (!expiresAt) {
    return 'never expires';
  }
  const verb = new Date(expiresAt).getTime() > now ? 'expires' : 'expired';
  return `${verb} ${relativeTime(expiresAt, now)}`;
}

/** "1 view", "12 views". */
export function viewsText(count: number): string {
  return `${count} view${count === 1 ? '' : 's'}`;
}

/**
 * A file name for a conversation title: letters, digits, `-` and `_` kept, other
 * runs turned into one `-`, at most 60 characters, `conversation` when nothing is left;
 * with the `.chat` extension.
 */
export function chatFileName(title: string | null): string {
  const stem = (title ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return `${stem || 'conversation'}.chat`;
}

/**
 * The first free path in `folder` for `name`: `name`, then `stem-2.chat`, `stem-3.chat`...
 * (`exists(path)` tells whether a path is taken; at most 50 tries, then the last one).
 */
export async function freePath(
  folder: string,
  name: string,
  exists: (path: string) => Promise<boolean>
): Promise<string> {
  const prefix = folder ? `${folder.replace(/\/+$/, '')}/` : '';
  const stem = name.replace(/\.chat$/i, '');
  let candidate = `${prefix}${name}`;
  for (let n = 2; n <= 50 && (await exists(candidate)); n++) {
    candidate = `${prefix}${stem}-${n}.chat`;
  }
  return candidate;
}
