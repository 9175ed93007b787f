/**
 * The share status of the conversation in front of the user (issue 4 item 4): a status
 * bar item "Shared · expires in 6 days · 3 views" (or "Not shared") while a `.chat`
 * document is the current widget (the jupyterlab-chat panel, or any editor of the file).
 *
 * The status bar is what JupyterLab 4 offers extensions cleanly: the file browser has no
 * public decoration API before 4.6 (`IDefaultFileBrowserRenderer` replaces the whole
 * listing renderer, which other extensions may also want). The item stays current: it
 * reloads when the current widget changes, after every change made through any
 * {@link ConvShareClient} of the page (the share dialog, the sidebar), and when the
 * document is saved or renamed.
 */

import { Widget } from '@lumino/widgets';
import { ISignal, Signal } from '@lumino/signaling';

import { ChangeKind, ConvShareClient, IShare } from './api';
import { absoluteTime, el, expiryText, viewsText } from './format';

/** The part of a document widget the status needs (JupyterLab's `DocumentWidget`). */
export interface IPathSource {
  context: {
    readonly path: string;
    readonly pathChanged?: ISignal<unknown, string>;
    readonly fileChanged?: ISignal<unknown, unknown>;
  };
}

/** Whether `widget` shows a document, i.e. has a `context` with a `path`. */
export function isDocumentWidget(widget: unknown): widget is IPathSource {
  const context = (widget as { context?: { path?: unknown } } | null)?.context;
  return typeof context?.path === 'string';
}

/** The status text of a share (or of no share). */
export function statusText(share: IShare | null, now: number = Date.now()): string {
  if (!share) {
    return 'Not shared';
  }
  const expired = share.expires_at !== null && new Date(share.expires_at).getTime() <= now;
  const parts = [expired ? 'Share expired' : 'Shared', expiryText(share.expires_at, now), viewsText(share.view_count)];
  if (!share.link_enabled) {
    parts.push('link off');
  }
  return parts.join(' · ');
}

/**
 * The status bar item. {@link ShareStatus.setWidget} follows the current widget;
 * `onClick` (optional) runs when the item is clicked or activated with Enter/Space.
 */
export class ShareStatus extends Widget {
  private readonly client: ConvShareClient;
  private readonly localPath: (path: string) => string;
  private path: string | null = null;
  private source: IPathSource | null = null;
  private share: IShare | null = null;
  private request = 0;
  private readonly _activeChanged = new Signal<this, void>(this);

  /**
   * @param client - the REST client.
   * @param localPath - a contents path without its drive prefix (`contents.localPath`).
   * @param onClick - what clicking the item does (e.g. show the shares sidebar).
   */
  constructor(client: ConvShareClient, localPath: (path: string) => string, onClick?: () => void) {
    super();
    this.client = client;
    this.localPath = localPath;
    this.addClass('jp-convshare-ShareStatus');
    this.node.setAttribute('role', 'status');
    if (onClick) {
      this.node.tabIndex = 0;
      this.node.classList.add('jp-mod-highlighted');
      this.node.addEventListener('click', onClick);
      this.node.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          onClick();
        }
      });
    }
    ConvShareClient.changed.connect(this.onChanged, this);
  }

  /** Emitted when the item starts or stops applying (a `.chat` document became current or not). */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** Whether the item applies: the current widget is a `.chat` document. */
  get isActive(): boolean {
    return this.path !== null;
  }

  /** The share shown, or `null`. */
  get currentShare(): IShare | null {
    return this.share;
  }

  dispose(): void {
    ConvShareClient.changed.disconnect(this.onChanged, this);
    this.follow(null);
    super.dispose();
  }

  /** Follow the current widget of the main area (`null` or not a `.chat` document: inactive). */
  setWidget(widget: unknown): void {
    const source = isDocumentWidget(widget) && widget.context.path.toLowerCase().endsWith('.chat') ? widget : null;
    if (source === this.source) {
      return;
    }
    const wasActive = this.isActive;
    this.follow(source);
    this.path = source ? this.localPath(source.context.path) : null;
    this.share = null;
    if (wasActive !== this.isActive) {
      this._activeChanged.emit();
    }
    this.render();
    void this.refresh();
  }

  /** Reload the share of the current document. */
  async refresh(): Promise<void> {
    const path = this.path;
    const request = ++this.request;
    if (path === null) {
      return;
    }
    try {
      const share = await this.client.findShareForPath(path);
      if (request === this.request) {
        this.share = share;
        this.render();
      }
    } catch (error) {
      if (request === this.request) {
        this.node.textContent = '';
        this.node.appendChild(el('span', 'jp-StatusBar-TextItem', 'Share status unavailable'));
        this.node.title = (error as Error).message;
      }
    }
  }

  private follow(source: IPathSource | null): void {
    if (this.source) {
      this.source.context.pathChanged?.disconnect(this.onPathChanged, this);
      this.source.context.fileChanged?.disconnect(this.onFileChanged, this);
    }
    this.source = source;
    if (source) {
      source.context.pathChanged?.connect(this.onPathChanged, this);
      source.context.fileChanged?.connect(this.onFileChanged, this);
    }
  }

  private onPathChanged(_: unknown, path: string): void {
    this.path = this.localPath(path);
    void this.refresh();
  }

  private onFileChanged(): void {
    void this.refresh();
  }

  private onChanged(_: object, kind: ChangeKind): void {
    if (kind === 'shares') {
      void this.refresh();
    }
  }

  private render(): void {
    const share = this.share;
    // JupyterLab's status bar text style (font, 24px line) like the other items
    this.node.textContent = '';
    if (this.path !== null) {
      this.node.appendChild(el('span', 'jp-StatusBar-TextItem', statusText(share)));
    }
    this.node.classList.toggle('jp-mod-shared', share !== null);
    this.node.title = share
      ? `${share.title || this.path}: shared ${absoluteTime(share.created_at)}${
          share.expires_at ? `, expires ${absoluteTime(share.expires_at)}` : ''
        } (click for the shares sidebar)`
      : 'This conversation is not shared (click for the shares sidebar)';
  }
}
