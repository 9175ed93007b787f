/**
 * Typed client of the jupyter-convshare REST API (`{base_url}convshare/api/...`,
 * README.md "REST API"; the server side is `jupyter_convshare/server/api.py` and
 * `server/library_api.py`).
 *
 * Every call goes through `ServerConnection.makeRequest`, so JupyterLab's token and
 * XSRF handling apply exactly as for its own requests. A failed call rejects with
 * a {@link ConvShareError} carrying the server's `{"message", "reason", "field"}`.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

/** How a share shows its conversation: the current state, or a frozen copy. */
export type ShareMode = 'live' | 'snapshot';

/** A grant's permission. */
export type Permission = 'view' | 'collaborate';

/** Who a grant is for. `principal` is `null` for the organization. */
export type PrincipalType = 'organization' | 'group' | 'user';

/**
 * A share as its owner (or a reshare's creator) sees it: `Share.to_json` of
 * `jupyter_convshare/core/shares.py`. Times are ISO 8601 UTC strings or `null`.
 */
export interface IShare {
  share_id: string;
  /** The link secret; the viewer page is `url`. */
  link: string;
  /** Absolute viewer URL `{base}convshare/s/<link>`. */
  url: string;
  conversation_id: string;
  owner: string;
  title: string;
  mode: ShareMode;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  snapshot_at: string | null;
  view_count: number;
  last_accessed_at: string | null;
  link_enabled: boolean;
  allow_reshare: boolean;
  single_use: boolean;
  claimed: boolean;
  parent_share_id: string | null;
  created_by: string | null;
  chat_posting: boolean;
}

/** A secret found in the content (`core/redact.py` `SecretFinding.to_json`). */
export interface ISecretWarning {
  /** e.g. `openai_api_key`, `anthropic_api_key`, `private_key`. */
  kind: string;
  message: string;
  message_id: string | null;
}

/**
 * Something a viewer might see that the owner should know of: a secret, personal data
 * (e-mail, home path) or an attachment that could not be scanned (`core/redact.py`
 * `Finding.to_json`; `server/api.py` *Redaction*). `preview` is masked, never the value.
 */
export interface IFinding {
  /** e.g. `openai_api_key`, `email`, `home_path`, `unscanned_attachment`. */
  kind: string;
  category: 'secret' | 'personal' | 'unscanned';
  message: string;
  message_id: string | null;
  part_index: number | null;
  part_type: string | null;
  attachment_id: string | null;
  location: 'title' | 'message' | 'attachment';
  preview: string;
  /** How many times it occurs there. */
  count: number;
  /** `true` when viewers will not see it with the share's current redaction choices. */
  hidden: boolean;
}

/** The answer of `POST convshare/api/shares`: the share plus what the owner must know. */
export interface ICreatedShare extends IShare {
  /** `false` when the conversation was already shared (the existing share, HTTP 200). */
  created: boolean;
  warnings: ISecretWarning[];
  /** Secrets and personal data (servers with redaction; absent from older ones). */
  findings?: IFinding[];
}

/** `POST convshare/api/shares` body: exactly one of `path`, `conversation_id`, `conversation`. */
export interface ICreateShareRequest {
  /** A file path relative to the server's root (e.g. `chats/sales.chat`). */
  path?: string;
  conversation_id?: string;
  /** Any importable JSON (convshare/1, a .chat document, a message list). */
  conversation?: unknown;
  name?: string;
  title?: string;
  /** `1h`, `24h`, `7d`, `30d`, `never` or an ISO 8601 time; the server default when absent. */
  expires?: string;
  mode?: ShareMode;
}

/** `PATCH convshare/api/shares/<id>` body: only the keys given change; the link stays. */
export interface IShareChanges {
  expires?: string;
  mode?: ShareMode;
  link_enabled?: boolean;
  allow_reshare?: boolean;
  single_use?: boolean;
  chat_posting?: boolean;
}

/** A grant (`Grant.to_json`). */
export interface IGrant {
  grant_id: string;
  principal_type: PrincipalType;
  principal: string | null;
  permission: Permission;
  created_at: string;
  updated_at: string;
}

/** `GET convshare/api/whoami`: the signed-in user as the server sees them. */
export interface IWhoami {
  name: string;
  /** The groups I belong to, by name. */
  groups: string[];
  is_admin: boolean;
}

/** One group a grant may name (`GET convshare/api/groups`): never its members' names. */
export interface IGroup {
  name: string;
  /** How many members it has. */
  members: number;
}

/** `GET convshare/api/info`: what a share dialog needs. */
export interface IInfo {
  version: string;
  owner: string;
  root_dir: string | null;
  default_expires: string;
  expiry_presets: string[];
  allow_never_expires: boolean;
  modes: ShareMode[];
  export_formats: string[];
  /** Bytes. */
  max_attachment_bytes: number;
  /** Bytes. */
  max_import_bytes: number;
  public_url: string | null;
  allow_chat_posting: boolean;
}

/** The user's effective sharing policy (`GET convshare/api/policy`, `core/policy.py`). */
export interface IPolicy {
  user: string;
  policy: {
    /** Seconds, or `null`: no cap. */
    max_expires_seconds: number | null;
    allow_never: boolean;
    allow_link: boolean;
    allow_reshare: boolean;
  };
  /** Which level set each field: `server`, `group:<name>`, `user:<name>`. */
  sources: Record<string, string>;
  /** The expiry presets the policy allows, in order. */
  expiry_presets: string[];
  /** The preset a new share gets, or `null` when none fits. */
  default_expires: string | null;
}

/** A stored conversation (`StoredConversation.to_json`). */
export interface IStoredConversation {
  id: string;
  owner: string;
  title: string;
  version: number;
  message_count: number;
  source_format: string | null;
  /** The file it was imported from, relative to the server's root, if any. */
  source_path: string | null;
  source_mtime: number | null;
  created_at: string;
  updated_at: string;
}

/** One item of my library, *Shared with you* (`core/library.py` `LibraryItem.to_json`). */
export interface ILibraryItem {
  /** `grant-<share id>` for a granted item not saved yet. */
  item_id: string;
  user: string;
  /** `saved` (a library row) or `granted` (shown because of a grant; cannot be removed). */
  kind: 'saved' | 'granted';
  share_id: string | null;
  /** For a copy of another server's conversation: my own conversation holding it. */
  conversation_id: string | null;
  title: string | null;
  /** My own name for it (rename), or `null`. */
  name: string | null;
  /** `"this server"` or the other server's `scheme://host[:port]/base/`. */
  origin: string;
  /** The sharer where I may know it (grants), else `null`. */
  owner: string | null;
  permission: Permission | null;
  status: 'active' | 'expired' | 'revoked' | 'copy';
  tags: string[];
  archived: boolean;
  saved_at: string;
  updated_at: string;
  /** The viewer page (the link, or the grantee page while the link is off), or `null`. */
  url: string | null;
}

/** `POST convshare/api/library/preview`: what a share link shows (nothing is saved). */
export interface ILinkPreview {
  title: string | null;
  /** `"this server"` or the other server's `scheme://host[:port]/base/`. */
  origin: string;
  /** Messages on the path the viewer shows first. */
  message_count: number;
  /** Display names of the authors on that path. */
  participants: string[];
  /** The first question, at most 280 characters. */
  summary: string;
  created_at: string | null;
  updated_at: string | null;
}

/** A `.chat` file the server wrote (`save-as` routes): its path relative to the root. */
export interface ISavedFile {
  path: string;
  name: string;
}

/**
 * What a successful call changed: `shares` (a share or grant of mine), `library`
 * (my *Shared with you*) or `files` (a file written into the workspace).
 */
export type ChangeKind = 'shares' | 'library' | 'files';

/** A share granted to me (`GET convshare/api/shared-with-me`). */
export interface ISharedWithMe {
  share_id: string;
  conversation_id: string;
  title: string;
  owner: string;
  permission: Permission;
  /** The link, or the grantee page `convshare/v/<share_id>` while the link is off. */
  url: string;
  updated_at: string;
}

/**
 * A failed REST call. `status` is the HTTP status (0 when the server could not be
 * reached); `message`, `reason` and `field` come from the server's JSON error body.
 */
export class ConvShareError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly field: string | null;

  constructor(status: number, message: string, reason: string, field: string | null = null) {
    super(message);
    this.name = 'ConvShareError';
    this.status = status;
    this.reason = reason;
    this.field = field;
  }
}

/** The server's error body, as `server/base.py` writes it. */
interface IErrorBody {
  message?: unknown;
  reason?: unknown;
  field?: unknown;
}

/** The page-wide change signal (every client of the page emits on it). */
const changedSignal = new Signal<object, ChangeKind>({});

/** What a successful `method` on `path` changed, or `null` for a read. */
export function changeOf(method: string, path: string): ChangeKind | null {
  if (method === 'GET' || method === 'HEAD') {
    return null;
  }
  const route = path.split('?')[0].split('/').slice(2);
  if (route[0] === 'shares') {
    return 'shares';
  }
  if (route[0] === 'library') {
    if (route[1] === 'preview') {
      return null;
    }
    return route[route.length - 1] === 'save-as' ? 'files' : 'library';
  }
  return null;
}

/** Path segments are percent-encoded one by one: ids never break out of their segment. */
function apiPath(...segments: string[]): string {
  return ['convshare', 'api', ...segments.map(encodeURIComponent)].join('/');
}

/**
 * The REST client. Build it with the app's `serviceManager.serverSettings`
 * (or `ServerConnection.makeSettings()`); it keeps no other state.
 */
export class ConvShareClient {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /**
   * Emitted after every successful call that changes something, by any client of the
   * page (the share dialog, the sidebar, the status item): views listen to it to stay
   * current after a share, change or revoke made elsewhere in JupyterLab.
   */
  static get changed(): ISignal<object, ChangeKind> {
    return changedSignal;
  }

  /** `GET convshare/api/info`. */
  info(): Promise<IInfo> {
    return this.json<IInfo>('GET', apiPath('info'));
  }

  /** My shares and the reshares I made, newest first (expired ones included). */
  async listShares(): Promise<IShare[]> {
    const body = await this.json<{ shares: IShare[] }>('GET', apiPath('shares'));
    return body.shares;
  }

  /** Create a share (or get the existing one: `created` is then `false`). */
  createShare(request: ICreateShareRequest): Promise<ICreatedShare> {
    return this.json<ICreatedShare>('POST', apiPath('shares'), request);
  }

  /** One share (owner, admin or a reshare's creator). */
  getShare(shareId: string): Promise<IShare> {
    return this.json<IShare>('GET', apiPath('shares', shareId));
  }

  /** Change expiry, mode or switches; answers the share. */
  updateShare(shareId: string, changes: IShareChanges): Promise<IShare> {
    return this.json<IShare>('PATCH', apiPath('shares', shareId), changes);
  }

  /** A new link; the old one answers 404 from now on. */
  rotateLink(shareId: string): Promise<IShare> {
    return this.json<IShare>('POST', apiPath('shares', shareId, 'rotate'));
  }

  /** Refresh a snapshot share's frozen copy (same link). */
  updateSnapshot(shareId: string): Promise<IShare> {
    return this.json<IShare>('POST', apiPath('shares', shareId, 'snapshot'));
  }

  /** Revoke (delete) a share: its link answers 404 at once. */
  async revokeShare(shareId: string): Promise<void> {
    await this.request('DELETE', apiPath('shares', shareId));
  }

  /** Revoke every share of mine; answers how many were revoked. */
  async revokeAll(): Promise<number> {
    const body = await this.json<{ revoked: number }>('DELETE', apiPath('shares'));
    return body.revoked;
  }

  /** The QR code of the share's link as an `image/svg+xml` blob. */
  async qrSvg(shareId: string): Promise<Blob> {
    const response = await this.request('GET', apiPath('shares', shareId, 'qr.svg'));
    return response.blob();
  }

  /** The grants of a share, oldest first. */
  async listGrants(shareId: string): Promise<IGrant[]> {
    const body = await this.json<{ grants: IGrant[] }>('GET', apiPath('shares', shareId, 'grants'));
    return body.grants;
  }

  /** Add (or change) a grant; `principal` is omitted for the organization. */
  addGrant(
    shareId: string,
    principalType: PrincipalType,
    principal: string | null,
    permission: Permission
  ): Promise<IGrant> {
    const body: Record<string, string> = { principal_type: principalType, permission };
    if (principal !== null) {
      body.principal = principal;
    }
    return this.json<IGrant>('POST', apiPath('shares', shareId, 'grants'), body);
  }

  /** Change a grant's permission. */
  updateGrant(shareId: string, grantId: string, permission: Permission): Promise<IGrant> {
    return this.json<IGrant>('PATCH', apiPath('shares', shareId, 'grants', grantId), { permission });
  }

  /** Remove a grant. */
  async removeGrant(shareId: string, grantId: string): Promise<void> {
    await this.request('DELETE', apiPath('shares', shareId, 'grants', grantId));
  }

  /** What a viewer of the share might see that its owner should know of (owner or admin). */
  async findings(shareId: string): Promise<IFinding[]> {
    const body = await this.json<{ findings: IFinding[] }>('GET', apiPath('shares', shareId, 'findings'));
    return body.findings;
  }

  /** My effective sharing policy: which expiry presets, links and reshares I may use. */
  policy(): Promise<IPolicy> {
    return this.json<IPolicy>('GET', apiPath('policy'));
  }

  /** Who I am to the server: name, groups, admin. */
  whoami(): Promise<IWhoami> {
    return this.json<IWhoami>('GET', apiPath('whoami'));
  }

  /** The groups a grant may name, by name (`POST .../grants` refuses any other group). */
  async listGroups(): Promise<IGroup[]> {
    const body = await this.json<{ groups: IGroup[] }>('GET', apiPath('groups'));
    return body.groups;
  }

  /** My stored conversations, most recently updated first. */
  async listConversations(): Promise<IStoredConversation[]> {
    const body = await this.json<{ conversations: IStoredConversation[] }>(
      'GET',
      apiPath('conversations')
    );
    return body.conversations;
  }

  /**
   * The share of the file at `path` (relative to the server root), or `null` when it
   * is not shared. Reshares made by others are not the file's own share.
   */
  async findShareForPath(path: string): Promise<IShare | null> {
    const [conversations, shares] = await Promise.all([this.listConversations(), this.listShares()]);
    const ids = new Set(conversations.filter(c => c.source_path === path).map(c => c.id));
    return shares.find(s => ids.has(s.conversation_id) && s.parent_share_id === null) ?? null;
  }

  /** Conversations granted to me. */
  async sharedWithMe(): Promise<ISharedWithMe[]> {
    const body = await this.json<{ conversations: ISharedWithMe[] }>('GET', apiPath('shared-with-me'));
    return body.conversations;
  }

  /** My library (*Shared with you*): `archived` is `'false'` (default), `'true'` or `'all'`. */
  async library(query: { archived?: 'true' | 'false' | 'all'; tag?: string; q?: string } = {}): Promise<ILibraryItem[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) {
        params.set(key, value);
      }
    }
    const search = params.toString();
    const body = await this.json<{ items: ILibraryItem[] }>(
      'GET',
      apiPath('library') + (search ? `?${search}` : '')
    );
    return body.items;
  }

  /** Save a share link (`{url}`) or a share granted to me (`{share_id}`) to my library. */
  saveToLibrary(source: { url: string } | { share_id: string }): Promise<ILibraryItem & { created: boolean }> {
    return this.json('POST', apiPath('library'), source);
  }

  /** Remove an item from my library. */
  async removeFromLibrary(itemId: string): Promise<void> {
    await this.request('DELETE', apiPath('library', itemId));
  }

  /** Write an item of my library as a `.chat` file at `path` (relative to the root; never overwrites). */
  saveLibraryItemAs(itemId: string, path: string): Promise<ISavedFile> {
    return this.json<ISavedFile>('POST', apiPath('library', itemId, 'save-as'), { path });
  }

  /** What the share link `url` (of this or another server) shows; nothing is saved. */
  previewLink(url: string): Promise<ILinkPreview> {
    return this.json<ILinkPreview>('POST', apiPath('library', 'preview'), { url });
  }

  /** Write what the share link `url` shows as a `.chat` file at `path` (my library is not changed). */
  saveLinkAs(url: string, path: string): Promise<ISavedFile> {
    return this.json<ISavedFile>('POST', apiPath('library', 'save-as'), { url, path });
  }

  /** A request whose answer is JSON. */
  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    return (await response.json()) as T;
  }

  /**
   * Send one request; resolve with the response when it is 2xx, else reject with a
   * {@link ConvShareError} built from the server's JSON error body.
   */
  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const url = URLExt.join(this.settings.baseUrl, path);
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ConvShareError(
        0,
        `cannot reach the Jupyter server: ${(error as Error).message}`,
        'network_error'
      );
    }
    if (!response.ok) {
      throw await errorFrom(response);
    }
    const change = changeOf(method, path);
    if (change !== null) {
      changedSignal.emit(change);
    }
    return response;
  }
}

/** The {@link ConvShareError} of a failed response (a non-JSON body keeps the status text). */
export async function errorFrom(response: Response): Promise<ConvShareError> {
  let data: IErrorBody = {};
  try {
    data = (await response.json()) as IErrorBody;
  } catch {
    // a proxy's HTML error page, or an empty body: the status says enough
  }
  const message =
    typeof data.message === 'string' && data.message
      ? data.message
      : `${response.status} ${response.statusText || 'error'}`;
  const reason = typeof data.reason === 'string' ? data.reason : 'error';
  const field = typeof data.field === 'string' ? data.field : null;
  return new ConvShareError(response.status, message, reason, field);
}
