/**
 * What the shares sidebar and the status item show: search and sort of my shares,
 * expiry and status texts, file names of `.chat` copies. (The panel itself runs in a
 * real JupyterLab in tests/test_lab_sidebar.py.)
 */

import { IShare } from '../api';
import { chatFileName, expiryText, freePath, relativeTime, viewsText } from '../format';
import { looksLikeShareLink } from '../openlink';
import { filterAndSort } from '../sidebar';
import { isDocumentWidget, statusText } from '../status';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

function share(id: string, title: string, created: number, expires: number | null, views: number): IShare {
  return {
    share_id: id,
    link: `L${id}`,
    url: `http://x/convshare/s/L${id}`,
    conversation_id: `c${id}`,
    owner: 'me',
    title,
    mode: 'live',
    expires_at: expires === null ? null : new Date(expires).toISOString(),
    created_at: new Date(created).toISOString(),
    updated_at: new Date(created).toISOString(),
    snapshot_at: null,
    view_count: views,
    last_accessed_at: null,
    link_enabled: true,
    allow_reshare: false,
    single_use: false,
    claimed: false,
    parent_share_id: null,
    created_by: null,
    chat_posting: false
  };
}

const SHARES = [
  share('1', 'sales report', NOW - 3 * DAY, NOW + 6 * DAY, 3),
  share('2', 'Alpha notes', NOW - 1 * DAY, null, 10),
  share('3', 'Beta sales', NOW - 2 * DAY, NOW + 1 * DAY, 0)
];

describe('filterAndSort', () => {
  it('keeps titles containing the search text, ignoring case', () => {
    expect(filterAndSort(SHARES, '  SALES ', 'created').map(s => s.share_id)).toEqual(['3', '1']);
  });

  it('sorts newest first, by title, by soonest expiry (never last) and by views', () => {
    const order = (sort: 'created' | 'title' | 'expiry' | 'views') => filterAndSort(SHARES, '', sort).map(s => s.share_id);
    expect(order('created')).toEqual(['2', '3', '1']);
    expect(order('title')).toEqual(['2', '3', '1']);
    expect(order('expiry')).toEqual(['3', '1', '2']);
    expect(order('views')).toEqual(['2', '1', '3']);
  });

  it('does not reorder the list it was given', () => {
    const before = SHARES.map(s => s.share_id);
    filterAndSort(SHARES, '', 'views');
    expect(SHARES.map(s => s.share_id)).toEqual(before);
  });
});

describe('times and counts', () => {
  it('says how long a share lasts', () => {
    expect(expiryText(new Date(NOW + 7 * DAY - 1000).toISOString(), NOW)).toBe('expires in 7 days');
    expect(expiryText(new Date(NOW + 30 * DAY).toISOString(), NOW)).toBe('expires in 30 days');
    expect(expiryText(new Date(NOW - 2 * 3_600_000).toISOString(), NOW)).toBe('expired 2 hours ago');
    expect(expiryText(null, NOW)).toBe('never expires');
  });

  it('counts months only past 59 days', () => {
    expect(relativeTime(new Date(NOW + 90 * DAY).toISOString(), NOW)).toBe('in 3 months');
  });

  it('says view or views', () => {
    expect([viewsText(0), viewsText(1), viewsText(2)]).toEqual(['0 views', '1 view', '2 views']);
  });
});

describe('statusText', () => {
  it('describes a shared, an expired and an unshared conversation', () => {
    expect(statusText(SHARES[0], NOW)).toBe('Shared · expires in 6 days · 3 views');
    expect(statusText({ ...SHARES[0], expires_at: new Date(NOW - DAY).toISOString() }, NOW)).toBe(
      'Share expired · expired 1 day ago · 3 views'
    );
    expect(statusText({ ...SHARES[1], link_enabled: false }, NOW)).toBe('Shared · never expires · 10 views · link off');
    expect(statusText(null, NOW)).toBe('Not shared');
  });

  it('recognises a document widget by its context path', () => {
    expect(isDocumentWidget({ context: { path: 'a.chat' } })).toBe(true);
    expect(isDocumentWidget({ context: {} })).toBe(false);
    expect(isDocumentWidget(null)).toBe(false);
  });
});

describe('.chat file names', () => {
  it('turns a title into a safe file name', () => {
    expect(chatFileName('Sales: Q3 / Q4 — café?')).toBe('Sales-Q3-Q4-cafe.chat');
    expect(chatFileName('../../etc/passwd')).toBe('etc-passwd.chat');
    expect(chatFileName('')).toBe('conversation.chat');
    expect(chatFileName(null)).toBe('conversation.chat');
    expect(chatFileName('x'.repeat(100))).toBe(`${'x'.repeat(60)}.chat`);
  });

  it('picks the first free name in the folder', async () => {
    const taken = new Set(['chats/a.chat', 'chats/a-2.chat']);
    expect(await freePath('chats', 'a.chat', async p => taken.has(p))).toBe('chats/a-3.chat');
    expect(await freePath('', 'b.chat', async () => false)).toBe('b.chat');
  });
});

describe('looksLikeShareLink', () => {
  it('accepts http(s) share links and refuses anything else', () => {
    expect(looksLikeShareLink('https://hub.example.org/user/ada/convshare/s/AbC_-123')).toBe(true);
    expect(looksLikeShareLink('javascript:alert(1)//convshare/s/x')).toBe(false);
    expect(looksLikeShareLink('https://example.org/somewhere')).toBe(false);
    expect(looksLikeShareLink('not a url')).toBe(false);
  });
});
