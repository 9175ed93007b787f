/**
 * The client calls of the shares sidebar and of "Open share link…": `.chat` copies,
 * link previews, and the page-wide change signal that keeps the views current.
 */

import { ServerConnection } from '@jupyterlab/services';

import { ChangeKind, ConvShareClient, changeOf } from '../api';

interface ISent {
  method: string;
  url: string;
  body: string | null;
}

const BASE = 'http://localhost:8888/a%40b/';

/** A client whose fetch records requests and answers `replies` in order. */
function clientWith(...replies: Response[]): { client: ConvShareClient; sent: ISent[] } {
  const sent: ISent[] = [];
  const fetch = async (input: RequestInfo | URL): Promise<Response> => {
    const request = input as Request;
    sent.push({
      method: request.method,
      url: request.url.replace(/[?&]\d+$/, ''),
      body: request.method === 'GET' ? null : await request.text()
    });
    const reply = replies.shift();
    if (!reply) {
      throw new TypeError('Failed to fetch');
    }
    return reply;
  };
  const settings = ServerConnection.makeSettings({ baseUrl: BASE, token: 't', fetch, Request, Headers });
  return { client: new ConvShareClient(settings), sent };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** Record the change signal while `fn` runs. */
async function changesDuring(fn: () => Promise<unknown>): Promise<ChangeKind[]> {
  const seen: ChangeKind[] = [];
  const listener = (_: object, kind: ChangeKind) => seen.push(kind);
  ConvShareClient.changed.connect(listener);
  try {
    await fn().catch(() => undefined);
  } finally {
    ConvShareClient.changed.disconnect(listener);
  }
  return seen;
}

describe('ConvShareClient: library copies and share links', () => {
  it('writes a library item as a .chat file at the given path', async () => {
    const { client, sent } = clientWith(json(201, { path: 'chats/a.chat', name: 'a.chat' }));

    const saved = await client.saveLibraryItemAs('it/1', 'chats/a.chat');

    expect(sent[0].method).toBe('POST');
    expect(sent[0].url).toBe(`${BASE}convshare/api/library/it%2F1/save-as`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ path: 'chats/a.chat' });
    expect(saved).toEqual({ path: 'chats/a.chat', name: 'a.chat' });
  });

  it('previews a share link without saving it', async () => {
    const preview = {
      title: 'Sales',
      origin: 'this server',
      message_count: 4,
      participants: ['Ada', 'Jupyternaut'],
      summary: 'How do I read a CSV?',
      created_at: null,
      updated_at: null
    };
    const { client, sent } = clientWith(json(200, preview));

    expect(await client.previewLink('https://x.org/convshare/s/L')).toEqual(preview);
    expect(sent[0].url).toBe(`${BASE}convshare/api/library/preview`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ url: 'https://x.org/convshare/s/L' });
  });

  it('writes a share link as a .chat file', async () => {
    const { client, sent } = clientWith(json(201, { path: 'b.chat', name: 'b.chat' }));

    await client.saveLinkAs('https://x.org/convshare/s/L', 'b.chat');

    expect(sent[0].url).toBe(`${BASE}convshare/api/library/save-as`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ url: 'https://x.org/convshare/s/L', path: 'b.chat' });
  });

  it("rejects with the server's reason when the file exists", async () => {
    const { client } = clientWith(
      json(409, { message: "path: 'b.chat' exists already; choose another name", reason: 'conflict', field: 'path' })
    );

    await expect(client.saveLinkAs('https://x.org/convshare/s/L', 'b.chat')).rejects.toMatchObject({
      status: 409,
      field: 'path',
      message: "path: 'b.chat' exists already; choose another name"
    });
  });
});

describe('ConvShareClient.changed', () => {
  it('is emitted after a share is revoked', async () => {
    const { client } = clientWith(new Response(null, { status: 204 }));

    expect(await changesDuring(() => client.revokeShare('sh1'))).toEqual(['shares']);
  });

  it('is emitted by every client of the page', async () => {
    const first = clientWith(json(200, { revoked: 2 }));
    const second = clientWith(json(200, { item_id: 'i', created: true }));

    const seen = await changesDuring(async () => {
      await first.client.revokeAll();
      await second.client.saveToLibrary({ url: 'https://x.org/convshare/s/L' });
    });

    expect(seen).toEqual(['shares', 'library']);
  });

  it('is not emitted for reads, previews or failures', async () => {
    const { client } = clientWith(
      json(200, { shares: [] }),
      json(200, { title: null }),
      json(404, { message: 'no such share', reason: 'not_found' })
    );

    const seen = await changesDuring(async () => {
      await client.listShares();
      await client.previewLink('https://x.org/convshare/s/L');
      await client.revokeShare('gone');
    });

    expect(seen).toEqual([]);
  });

  it('names a .chat file written as a change of files', () => {
    expect(changeOf('POST', 'convshare/api/library/it1/save-as')).toBe('files');
    expect(changeOf('POST', 'convshare/api/library/save-as')).toBe('files');
    expect(changeOf('DELETE', 'convshare/api/library/it1')).toBe('library');
    expect(changeOf('PATCH', 'convshare/api/shares/sh1')).toBe('shares');
    expect(changeOf('GET', 'convshare/api/shares')).toBeNull();
  });
});
