/**
 * The REST client against a recording fetch: which method, URL, headers and body each
 * call sends, and how it surfaces the server's answers and errors. (The real server
 * is exercised end to end by tests/test_lab_extension.py.)
 */

import { ServerConnection } from '@jupyterlab/services';

import { ConvShareClient, ConvShareError } from '../api';

interface ISent {
  method: string;
  url: string;
  body: string | null;
  headers: Headers;
}

const BASE = 'http://localhost:8888/a%40b/';

/** A client whose fetch records requests and answers `replies` in order. */
function clientWith(...replies: Response[]): { client: ConvShareClient; sent: ISent[] } {
  const sent: ISent[] = [];
  const fetch = async (input: RequestInfo | URL): Promise<Response> => {
    const request = input as Request;
    sent.push({
      method: request.method,
      // JupyterLab appends a numeric cache buster to every request (cache: 'no-store')
      url: request.url.replace(/[?&]\d+$/, ''),
      body: request.method === 'GET' || request.method === 'HEAD' ? null : await request.text(),
      headers: request.headers
    });
    const reply = replies.shift();
    if (!reply) {
      throw new TypeError('Failed to fetch');
    }
    return reply;
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: BASE,
    token: 'secret-token',
    fetch,
    Request,
    Headers
  });
  return { client: new ConvShareClient(settings), sent };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

const SHARE = {
  share_id: 'sh1',
  link: 'L',
  url: `${BASE}convshare/s/L`,
  conversation_id: 'c1',
  owner: 'me',
  title: 'Sales',
  mode: 'live',
  expires_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  snapshot_at: null,
  view_count: 0,
  last_accessed_at: null,
  link_enabled: true,
  allow_reshare: false,
  single_use: false,
  claimed: false,
  parent_share_id: null,
  created_by: null,
  chat_posting: false
};

describe('ConvShareClient', () => {
  it('creates a share by posting the path as JSON under the base URL', async () => {
    const { client, sent } = clientWith(json(201, { ...SHARE, created: true, warnings: [] }));

    const share = await client.createShare({ path: 'chats/sales.chat', expires: '7d' });

    expect(sent[0].method).toBe('POST');
    expect(sent[0].url).toBe(`${BASE}convshare/api/shares`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ path: 'chats/sales.chat', expires: '7d' });
    expect(sent[0].headers.get('Content-Type')).toBe('application/json');
    expect(share.created).toBe(true);
    expect(share.url).toBe(`${BASE}convshare/s/L`);
  });

  it('sends the server token with every request', async () => {
    const { client, sent } = clientWith(json(200, { shares: [] }));

    await client.listShares();

    expect(sent[0].headers.get('Authorization')).toBe('token secret-token');
  });

  it('surfaces the secret warnings of a new share', async () => {
    const warning = { kind: 'openai_api_key', message: 'an OpenAI API key', message_id: 'm2' };
    const { client } = clientWith(json(201, { ...SHARE, created: true, warnings: [warning] }));

    const share = await client.createShare({ path: 'a.chat' });

    expect(share.warnings).toEqual([warning]);
  });

  it('patches only the changed settings', async () => {
    const { client, sent } = clientWith(json(200, { ...SHARE, expires_at: '2026-01-02T00:00:00Z' }));

    const share = await client.updateShare('sh1', { expires: '24h' });

    expect(sent[0].method).toBe('PATCH');
    expect(sent[0].url).toBe(`${BASE}convshare/api/shares/sh1`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ expires: '24h' });
    expect(share.expires_at).toBe('2026-01-02T00:00:00Z');
  });

  it('rotates and revokes through their own routes', async () => {
    const { client, sent } = clientWith(json(200, { ...SHARE, link: 'M' }), new Response(null, { status: 204 }));

    const rotated = await client.rotateLink('sh1');
    await client.revokeShare('sh1');

    expect(rotated.link).toBe('M');
    expect(sent.map(s => `${s.method} ${s.url}`)).toEqual([
      `POST ${BASE}convshare/api/shares/sh1/rotate`,
      `DELETE ${BASE}convshare/api/shares/sh1`
    ]);
  });

  it('percent-encodes ids so they stay one path segment', async () => {
    const { client, sent } = clientWith(json(200, SHARE));

    await client.getShare('../info?x=1');

    expect(sent[0].url).toBe(`${BASE}convshare/api/shares/..%2Finfo%3Fx%3D1`);
  });

  it('rejects with the server message, reason and field of a 4xx answer', async () => {
    const { client } = clientWith(
      json(400, { message: "expires: expected 1h, 24h, 7d, 30d or an ISO time", reason: 'invalid_request', field: 'expires' })
    );

    const failure = client.updateShare('sh1', { expires: 'soon' });

    await expect(failure).rejects.toBeInstanceOf(ConvShareError);
    await expect(failure).rejects.toMatchObject({
      status: 400,
      message: 'expires: expected 1h, 24h, 7d, 30d or an ISO time',
      reason: 'invalid_request',
      field: 'expires'
    });
  });

  it('keeps the status when an error body is not JSON', async () => {
    const { client } = clientWith(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));

    await expect(client.info()).rejects.toMatchObject({ status: 502, message: '502 Bad Gateway', field: null });
  });

  it('rejects with status 0 when the server cannot be reached', async () => {
    const { client } = clientWith();

    await expect(client.info()).rejects.toMatchObject({ status: 0, reason: 'network_error' });
  });

  it('adds an organization grant without a principal', async () => {
    const grant = {
      grant_id: 'g1',
      principal_type: 'organization',
      principal: null,
      permission: 'view',
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z'
    };
    const { client, sent } = clientWith(json(201, grant));

    await client.addGrant('sh1', 'organization', null, 'view');

    expect(sent[0].url).toBe(`${BASE}convshare/api/shares/sh1/grants`);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ principal_type: 'organization', permission: 'view' });
  });

  it('changes and removes a grant by its id', async () => {
    const grant = {
      grant_id: 'g1',
      principal_type: 'group',
      principal: 'staff',
      permission: 'collaborate',
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z'
    };
    const { client, sent } = clientWith(json(200, grant), new Response(null, { status: 204 }));

    const changed = await client.updateGrant('sh1', 'g1', 'collaborate');
    await client.removeGrant('sh1', 'g1');

    expect(changed.permission).toBe('collaborate');
    expect(sent.map(s => `${s.method} ${s.url}`)).toEqual([
      `PATCH ${BASE}convshare/api/shares/sh1/grants/g1`,
      `DELETE ${BASE}convshare/api/shares/sh1/grants/g1`
    ]);
    expect(JSON.parse(sent[0].body ?? '')).toEqual({ permission: 'collaborate' });
  });

  it("rejects a grant to an unknown group with the server's message", async () => {
    const { client } = clientWith(
      json(400, { message: "principal: unknown group 'nobody'", reason: 'invalid_request', field: 'principal' })
    );

    const failure = client.addGrant('sh1', 'group', 'nobody', 'view');

    await expect(failure).rejects.toMatchObject({
      status: 400,
      message: "principal: unknown group 'nobody'",
      field: 'principal'
    });
  });

  it('lists the groups a grant may name', async () => {
    const { client, sent } = clientWith(json(200, { groups: [{ name: 'staff', members: 3 }] }));

    const groups = await client.listGroups();

    expect(sent[0].url).toBe(`${BASE}convshare/api/groups`);
    expect(groups).toEqual([{ name: 'staff', members: 3 }]);
  });

  it("reads a share's findings", async () => {
    const finding = {
      kind: 'home_path',
      category: 'personal',
      message: 'Message 7 (system) contains what looks like an absolute home directory path.',
      message_id: 'm7',
      part_index: 0,
      part_type: 'text',
      attachment_id: null,
      location: 'message',
      preview: '/home/k… (shown to viewers as ~)',
      count: 1,
      hidden: false
    };
    const { client, sent } = clientWith(json(200, { share_id: 'sh1', redaction: {}, findings: [finding] }));

    const findings = await client.findings('sh1');

    expect(sent[0].url).toBe(`${BASE}convshare/api/shares/sh1/findings`);
    expect(findings).toEqual([finding]);
  });

  it('reads my sharing policy', async () => {
    const policy = {
      user: 'ada',
      policy: { max_expires_seconds: 604800, allow_never: false, allow_link: false, allow_reshare: true },
      sources: { max_expires_seconds: 'group:students', allow_never: 'group:students', allow_link: 'server', allow_reshare: 'server' },
      expiry_presets: ['1h', '24h', '7d'],
      default_expires: '7d'
    };
    const { client, sent } = clientWith(json(200, policy));

    const answer = await client.policy();

    expect(sent[0].url).toBe(`${BASE}convshare/api/policy`);
    expect(sent[0].method).toBe('GET');
    expect(answer.expiry_presets).toEqual(['1h', '24h', '7d']);
    expect(answer.policy.allow_link).toBe(false);
  });

  it('asks the server who I am', async () => {
    const { client, sent } = clientWith(json(200, { name: 'ada', groups: ['staff'], is_admin: false }));

    const me = await client.whoami();

    expect(sent[0].url).toBe(`${BASE}convshare/api/whoami`);
    expect(me.groups).toEqual(['staff']);
  });

  it("finds a file's own share by the stored conversation's source path", async () => {
    const conversations = [
      { id: 'c1', source_path: 'chats/sales.chat' },
      { id: 'c2', source_path: 'other.chat' }
    ];
    const reshare = { ...SHARE, share_id: 'sh0', parent_share_id: 'shX' };
    const { client } = clientWith(
      json(200, { conversations }),
      json(200, { shares: [reshare, SHARE, { ...SHARE, share_id: 'sh2', conversation_id: 'c2' }] })
    );

    const share = await client.findShareForPath('chats/sales.chat');

    expect(share?.share_id).toBe('sh1');
  });

  it('answers null for a file that is not shared', async () => {
    const { client } = clientWith(json(200, { conversations: [] }), json(200, { shares: [SHARE] }));

    expect(await client.findShareForPath('new.chat')).toBeNull();
  });

  it('queries the library with its filters', async () => {
    const { client, sent } = clientWith(json(200, { items: [] }));

    await client.library({ archived: 'all', q: 'sales report' });

    expect(sent[0].url).toBe(`${BASE}convshare/api/library?archived=all&q=sales+report`);
  });

  it('reads the QR code as an SVG blob', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"></svg>';
    const { client, sent } = clientWith(new Response(svg, { status: 200, headers: { 'Content-Type': 'image/svg+xml' } }));

    const blob = await client.qrSvg('sh1');

    expect(sent[0].url).toBe(`${BASE}convshare/api/shares/sh1/qr.svg`);
    expect(await blob.text()).toBe(svg);
  });
});
