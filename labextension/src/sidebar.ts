/**
 * The shares sidebar (DESIGN.md section 8, "JupyterLab": a sidebar with my shares and
 * *Shared with you*; issue 4 item 3).
 *
 * *My shares*: search, sort (newest, title, expiry, views), copy the link, open it in a
 * new tab, revoke one or all (each after a confirmation), view counts, expiry relative
 * and absolute, live or snapshot. *Shared with you*: my library (saved links and grants):
 * open in the viewer, save a copy as a `.chat` file in my workspace, remove. Every action
 * is one REST call through {@link ConvShareClient}; the server's error message is shown
 * as it is. The lists reload after any change made anywhere in JupyterLab
 * ({@link ConvShareClient.changed}), when the panel is shown, and on Refresh.
 *
 * Plain DOM inside a Lumino widget (like the share dialog), styled with JupyterLab's
 * theme variables only, so light and dark themes both work; every action is a
 * `<button>`, so the panel works from the keyboard (Escape cancels a confirmation).
 */

import { Clipboard, InputDialog, Notification } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ChangeKind, ConvShareClient, ConvShareError, ILibraryItem, IShare } from './api';
import { absoluteTime, button, chatFileName, el, expiryText, freePath, relativeTime, viewsText } from './format';

/** What the sidebar needs of the workspace (the file browser and the document manager). */
export interface IWorkspace {
  /** The folder the file browser shows, relative to the server root (`''`: the root). */
  currentFolder(): string;
  /** Whether a file or folder exists at `path` (relative to the root). */
  exists(path: string): Promise<boolean>;
  /** Called after the server wrote `path`: the file browser shows it. */
  fileWritten(path: string): Promise<void>;
  /** Open `path` in JupyterLab (a `.chat` file opens in the chat panel when jupyterlab-chat is there). */
  open(path: string): Promise<void>;
}

/** Orders of *My shares*. */
export type ShareSort = 'created' | 'title' | 'expiry' | 'views';

const SORT_LABELS: [ShareSort, string][] = [
  ['created', 'Newest first'],
  ['title', 'Title (A–Z)'],
  ['expiry', 'Expires soonest'],
  ['views', 'Most viewed']
];

/** `shares` matching `query` (title, case-insensitive), in the order `sort`. */
export function filterAndSort(shares: IShare[], query: string, sort: ShareSort): IShare[] {
  const needle = query.trim().toLocaleLowerCase();
  const kept = needle ? shares.filter(s => (s.title || '').toLocaleLowerCase().includes(needle)) : [...shares];
  const time = (iso: string | null, missing: number) => (iso ? new Date(iso).getTime() : missing);
  const compare: Record<ShareSort, (a: IShare, b: IShare) => number> = {
    created: (a, b) => time(b.created_at, 0) - time(a.created_at, 0),
    title: (a, b) => (a.title || '').localeCompare(b.title || '', undefined, { sensitivity: 'base' }),
    // never-expiring shares last
    expiry: (a, b) => time(a.expires_at, Infinity) - time(b.expires_at, Infinity),
    views: (a, b) => b.view_count - a.view_count
  };
  return kept.sort((a, b) => compare[sort](a, b) || a.share_id.localeCompare(b.share_id));
}

/** An item's title as the library shows it. */
export function itemTitle(item: ILibraryItem): string {
  return item.name || item.title || '(untitled conversation)';
}

/** A pending confirmation: one share, all shares, or one library item. */
type Confirming = { kind: 'revoke'; id: string } | { kind: 'revoke-all' } | { kind: 'remove'; id: string } | null;

/** The left-area panel. */
export class SharesSidebar extends Widget {
  private readonly client: ConvShareClient;
  private readonly workspace: IWorkspace;
  private readonly openLink: () => void;
  private shares: IShare[] | null = null;
  private items: ILibraryItem[] | null = null;
  private mineError = '';
  private libraryError = '';
  private confirming: Confirming = null;
  private loading = false;
  private readonly search: HTMLInputElement;
  private readonly sort: HTMLSelectElement;
  private readonly revokeAllButton: HTMLButtonElement;
  private readonly mineCount: HTMLElement;
  private readonly mineBody: HTMLElement;
  private readonly libraryCount: HTMLElement;
  private readonly libraryBody: HTMLElement;
  private readonly live: HTMLElement;

  /**
   * @param client - the REST client.
   * @param workspace - the file browser and document manager, for `.chat` copies.
   * @param openLink - runs the "Open share link…" command.
   */
  constructor(client: ConvShareClient, workspace: IWorkspace, openLink: () => void) {
    super();
    this.client = client;
    this.workspace = workspace;
    this.openLink = openLink;
    this.id = 'jp-convshare-sidebar';
    this.addClass('jp-convshare-Sidebar');
    this.title.caption = 'Conversation shares';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Conversation shares');

    const header = el('div', 'jp-convshare-Sidebar-header');
    header.append(
      el('h2', 'jp-convshare-Sidebar-title', 'Conversation shares'),
      button('Refresh', () => void this.refresh(), 'reject', 'Refresh the lists'),
      button('Open share link…', () => this.openLink(), 'reject', 'Open a share link')
    );

    // My shares: controls stay in place (typing never loses focus); only the list re-renders
    const mine = el('section', 'jp-convshare-Sidebar-section jp-convshare-MyShares');
    mine.setAttribute('aria-labelledby', 'jp-convshare-mine-heading');
    const mineHeading = el('h3', 'jp-convshare-Sidebar-heading', 'My shares ');
    mineHeading.id = 'jp-convshare-mine-heading';
    this.mineCount = el('span', 'jp-convshare-count');
    mineHeading.appendChild(this.mineCount);
    this.search = el('input', 'jp-mod-styled jp-convshare-search');
    this.search.type = 'search';
    this.search.placeholder = 'Search my shares';
    this.search.setAttribute('aria-label', 'Search my shares');
    this.search.addEventListener('input', () => this.renderMine());
    this.sort = el('select', 'jp-mod-styled jp-convshare-sort');
    this.sort.setAttribute('aria-label', 'Sort my shares');
    for (const [value, label] of SORT_LABELS) {
      const option = el('option', '', label);
      option.value = value;
      this.sort.appendChild(option);
    }
    this.sort.addEventListener('change', () => this.renderMine());
    this.revokeAllButton = button('Revoke all…', () => this.confirm({ kind: 'revoke-all' }), 'reject', 'Revoke all my shares');
    const controls = el('div', 'jp-convshare-Sidebar-controls');
    controls.append(this.search, this.sort, this.revokeAllButton);
    this.mineBody = el('div', 'jp-convshare-Sidebar-body');
    mine.append(mineHeading, controls, this.mineBody);

    const library = el('section', 'jp-convshare-Sidebar-section jp-convshare-SharedWithMe');
    library.setAttribute('aria-labelledby', 'jp-convshare-library-heading');
    const libraryHeading = el('h3', 'jp-convshare-Sidebar-heading', 'Shared with you ');
    libraryHeading.id = 'jp-convshare-library-heading';
    this.libraryCount = el('span', 'jp-convshare-count');
    libraryHeading.appendChild(this.libraryCount);
    this.libraryBody = el('div', 'jp-convshare-Sidebar-body');
    library.append(libraryHeading, this.libraryBody);

    // screen readers hear what an action did ("Link copied")
    this.live = el('div', 'jp-convshare-live');
    this.live.setAttribute('role', 'status');
    this.live.setAttribute('aria-live', 'polite');

    this.node.append(header, this.live, mine, library);
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this.confirming) {
        event.stopPropagation();
        this.confirm(null);
      }
    });
    ConvShareClient.changed.connect(this.onChanged, this);
    this.renderMine();
    this.renderLibrary();
  }

  dispose(): void {
    ConvShareClient.changed.disconnect(this.onChanged, this);
    super.dispose();
  }

  /** Reload both lists from the server. */
  async refresh(): Promise<void> {
    this.loading = true;
    // each list loads on its own: one failing still shows the other
    const [shares, items] = await Promise.all([settle(this.client.listShares()), settle(this.client.library())]);
    this.loading = false;
    if (shares.ok) {
      this.shares = shares.value;
      this.mineError = '';
    } else {
      this.mineError = shares.error;
    }
    if (items.ok) {
      this.items = items.value;
      this.libraryError = '';
    } else {
      this.libraryError = items.error;
    }
    this.renderMine();
    this.renderLibrary();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  private onChanged(_: object, kind: ChangeKind): void {
    if ((kind === 'shares' || kind === 'library') && this.isVisible) {
      void this.refresh();
    }
  }

  private announce(text: string): void {
    this.live.textContent = text;
  }

  /** Show (or cancel) a confirmation, then focus its safe choice. */
  private confirm(confirming: Confirming): void {
    this.confirming = confirming;
    this.renderMine();
    this.renderLibrary();
    this.node.querySelector<HTMLButtonElement>('.jp-convshare-confirm .jp-convshare-cancel')?.focus();
  }

  /** A confirmation strip: the question, Cancel (focused) and the destructive action. */
  private confirmStrip(question: string, action: string, run: () => void): HTMLElement {
    const strip = el('div', 'jp-convshare-confirm');
    strip.setAttribute('role', 'alertdialog');
    strip.setAttribute('aria-label', question);
    const cancel = button('Cancel', () => this.confirm(null));
    cancel.classList.add('jp-convshare-cancel');
    strip.append(el('span', 'jp-convshare-confirm-text', question), cancel, button(action, run, 'warn'));
    return strip;
  }

  private async act(section: 'mine' | 'library', action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      if (section === 'mine') {
        this.mineError = messageOf(error);
      } else {
        this.libraryError = messageOf(error);
      }
    }
    this.renderMine();
    this.renderLibrary();
  }

  // -- My shares -------------------------------------------------------------------

  private renderMine(): void {
    const body = this.mineBody;
    body.textContent = '';
    const shares = this.shares;
    this.mineCount.textContent = shares ? `(${shares.length})` : '';
    this.revokeAllButton.disabled = !shares || shares.length === 0;
    if (this.mineError) {
      body.appendChild(errorNode(this.mineError));
    }
    if (this.confirming?.kind === 'revoke-all' && shares) {
      const count = shares.length;
      body.appendChild(
        this.confirmStrip(
          `Revoke all ${count} share${count === 1 ? '' : 's'}? Every link stops working at once.`,
          'Revoke all',
          () => void this.revokeAll()
        )
      );
    }
    if (shares === null) {
      body.appendChild(el('p', 'jp-convshare-empty', this.loading || !this.mineError ? 'Loading…' : ''));
      return;
    }
    if (shares.length === 0) {
      body.appendChild(
        el(
          'p',
          'jp-convshare-empty',
          'You have not shared any conversation yet. Right-click a .chat file in the file browser and choose “Share conversation…”.'
        )
      );
      return;
    }
    const shown = filterAndSort(shares, this.search.value, this.sort.value as ShareSort);
    if (shown.length === 0) {
      body.appendChild(el('p', 'jp-convshare-empty', `No share matches “${this.search.value.trim()}”.`));
      return;
    }
    const list = el('ul', 'jp-convshare-list');
    list.setAttribute('aria-label', 'My shares');
    for (const share of shown) {
      list.appendChild(this.shareRow(share));
    }
    body.appendChild(list);
  }

  private shareRow(share: IShare): HTMLElement {
    const title = share.title || '(untitled conversation)';
    const row = el('li', 'jp-convshare-item jp-convshare-share');
    row.dataset.shareId = share.share_id;
    const head = el('div', 'jp-convshare-item-head');
    head.append(el('span', 'jp-convshare-item-title', title), badge(share.mode === 'live' ? 'live' : 'snapshot'));
    if (!share.link_enabled) {
      head.appendChild(badge('link off'));
    }
    if (share.parent_share_id) {
      head.appendChild(badge('reshare'));
    }
    const meta = el('div', 'jp-convshare-item-meta');
    const expired = share.expires_at !== null && new Date(share.expires_at).getTime() <= Date.now();
    const expiry = el('span', `jp-convshare-expiry${expired ? ' jp-mod-expired' : ''}`, expiryText(share.expires_at));
    if (share.expires_at) {
      expiry.title = absoluteTime(share.expires_at);
      expiry.appendChild(el('span', 'jp-convshare-absolute', ` (${absoluteTime(share.expires_at)})`));
    }
    const created = el('span', 'jp-convshare-created', `shared ${relativeTime(share.created_at)}`);
    created.title = absoluteTime(share.created_at);
    meta.append(el('span', 'jp-convshare-views', viewsText(share.view_count)), sep(), expiry, sep(), created);

    const actions = el('div', 'jp-convshare-item-actions');
    if (share.link_enabled) {
      actions.append(
        button('Copy link', () => this.copy(share), 'reject', `Copy the link of ${title}`),
        button('Open', () => openTab(share.url), 'reject', `Open ${title} in a new tab`)
      );
    }
    actions.appendChild(
      button('Revoke…', () => this.confirm({ kind: 'revoke', id: share.share_id }), 'reject', `Revoke the share of ${title}`)
    );
    row.append(head, meta, actions);
    if (this.confirming?.kind === 'revoke' && this.confirming.id === share.share_id) {
      row.appendChild(
        this.confirmStrip(`Revoke “${title}”? Its link stops working at once.`, 'Revoke', () => void this.revoke(share))
      );
    }
    return row;
  }

  private copy(share: IShare): void {
    Clipboard.copyToSystem(share.url);
    this.announce(`Link of “${share.title || 'the conversation'}” copied`);
  }

  private async revoke(share: IShare): Promise<void> {
    this.confirming = null;
    await this.act('mine', async () => {
      await this.client.revokeShare(share.share_id);
      this.shares = (this.shares ?? []).filter(s => s.share_id !== share.share_id);
      this.mineError = '';
      this.announce(`Share of “${share.title || 'the conversation'}” revoked`);
    });
  }

  private async revokeAll(): Promise<void> {
    this.confirming = null;
    await this.act('mine', async () => {
      const count = await this.client.revokeAll();
      this.shares = [];
      this.mineError = '';
      this.announce(`${count} share${count === 1 ? '' : 's'} revoked`);
    });
  }

  // -- Shared with you -------------------------------------------------------------

  private renderLibrary(): void {
    const body = this.libraryBody;
    body.textContent = '';
    const items = this.items;
    this.libraryCount.textContent = items ? `(${items.length})` : '';
    if (this.libraryError) {
      body.appendChild(errorNode(this.libraryError));
    }
    if (items === null) {
      body.appendChild(el('p', 'jp-convshare-empty', this.loading || !this.libraryError ? 'Loading…' : ''));
      return;
    }
    if (items.length === 0) {
      body.appendChild(
        el(
          'p',
          'jp-convshare-empty',
          'Nothing is shared with you yet. Conversations granted to you appear here, and links you save (“Open share link…”, or “Save to my library” on a shared page).'
        )
      );
      return;
    }
    const list = el('ul', 'jp-convshare-list');
    list.setAttribute('aria-label', 'Shared with you');
    for (const item of items) {
      list.appendChild(this.libraryRow(item));
    }
    body.appendChild(list);
  }

  private libraryRow(item: ILibraryItem): HTMLElement {
    const title = itemTitle(item);
    const row = el('li', 'jp-convshare-item jp-convshare-library-item');
    row.dataset.itemId = item.item_id;
    const head = el('div', 'jp-convshare-item-head');
    head.appendChild(el('span', 'jp-convshare-item-title', title));
    if (item.status !== 'active') {
      head.appendChild(badge(item.status === 'copy' ? 'copy' : item.status));
    }
    if (item.permission === 'collaborate') {
      head.appendChild(badge('collaborate'));
    }
    const meta = el('div', 'jp-convshare-item-meta');
    const from = item.owner ? `from ${item.owner}` : item.origin === 'this server' ? 'saved from a link' : `from ${item.origin}`;
    const when = el('span', '', `${item.kind === 'granted' ? 'granted' : 'saved'} ${relativeTime(item.saved_at)}`);
    when.title = absoluteTime(item.saved_at);
    meta.append(el('span', 'jp-convshare-origin', from), sep(), when);

    const actions = el('div', 'jp-convshare-item-actions');
    if (item.url && item.status === 'active') {
      actions.appendChild(button('Open', () => openTab(item.url as string), 'reject', `Open ${title} in a new tab`));
    }
    if (item.status === 'active' || item.status === 'copy') {
      actions.appendChild(
        button('Save as .chat…', () => void this.saveAs(item), 'reject', `Save a copy of ${title} as a .chat file`)
      );
    }
    if (item.kind === 'saved') {
      actions.appendChild(
        button('Remove…', () => this.confirm({ kind: 'remove', id: item.item_id }), 'reject', `Remove ${title} from your library`)
      );
    }
    row.append(head, meta, actions);
    if (this.confirming?.kind === 'remove' && this.confirming.id === item.item_id) {
      const question =
        item.status === 'copy'
          ? `Remove “${title}”? Your copy of it is deleted.`
          : `Remove “${title}” from your library? The share itself is not changed.`;
      row.appendChild(this.confirmStrip(question, 'Remove', () => void this.remove(item)));
    }
    return row;
  }

  /** Ask for a path (a free name in the file browser's folder), then let the server write it. */
  private async saveAs(item: ILibraryItem): Promise<void> {
    const suggested = await freePath(this.workspace.currentFolder(), chatFileName(itemTitle(item)), path =>
      this.workspace.exists(path)
    );
    const answer = await InputDialog.getText({
      title: 'Save a copy as .chat',
      label: 'File (relative to your workspace root)',
      text: suggested,
      okLabel: 'Save'
    });
    if (!answer.button.accept || !answer.value) {
      return;
    }
    const path = answer.value;
    await this.act('library', async () => {
      const saved = await this.client.saveLibraryItemAs(item.item_id, path);
      this.libraryError = '';
      await this.workspace.fileWritten(saved.path);
      this.announce(`Saved ${saved.path}`);
      Notification.success(`Saved a copy as ${saved.path}`, {
        autoClose: 5000,
        actions: [{ label: 'Open', callback: () => void this.workspace.open(saved.path) }]
      });
    });
  }

  private async remove(item: ILibraryItem): Promise<void> {
    this.confirming = null;
    await this.act('library', async () => {
      await this.client.removeFromLibrary(item.item_id);
      this.items = (this.items ?? []).filter(i => i.item_id !== item.item_id);
      this.libraryError = '';
      this.announce(`“${itemTitle(item)}” removed from your library`);
    });
  }
}

/** A call's value, or the text of its failure. */
async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: messageOf(error) };
  }
}

/** The text of a failed call: the server's message, as it is. */
export function messageOf(error: unknown): string {
  return error instanceof ConvShareError || error instanceof Error ? error.message : String(error);
}

function errorNode(text: string): HTMLElement {
  const node = el('div', 'jp-convshare-error', text);
  node.setAttribute('role', 'alert');
  return node;
}

function badge(text: string): HTMLElement {
  return el('span', `jp-convshare-badge jp-convshare-badge-${text.replace(/\s+/g, '-')}`, text);
}

function sep(): HTMLElement {
  const node = el('span', 'jp-convshare-sep', ' · ');
  node.setAttribute('aria-hidden', 'true');
  return node;
}

/** Open a viewer page in a new tab, never giving it a handle on JupyterLab's window. */
function openTab(url: string): void {
  window.open(url, '_blank', 'noopener,noreferrer');
}
