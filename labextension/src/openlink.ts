/**
 * "Open share link…" (issue 4 item 5): paste a convshare link (of this server or
 * another), see the conversation's title, authors, size and first question, then
 * "Save to my library" (the library API) or "Open as .chat" (the server writes a
 * `.chat` copy into the workspace, which then opens). Another server's link is fetched
 * by this server (the browser never talks to the other origin).
 */

import { Dialog } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ConvShareClient, ILinkPreview } from './api';
import { absoluteTime, button, chatFileName, el, freePath } from './format';
import { IWorkspace, messageOf } from './sidebar';

/** Whether `text` looks like a share link (`.../convshare/s/<link>`): the server checks it fully. */
export function looksLikeShareLink(text: string): boolean {
  try {
    const url = new URL(text.trim());
    return (url.protocol === 'http:' || url.protocol === 'https:') && /\/convshare\/s\/[A-Za-z0-9_-]+/.test(url.pathname);
  } catch {
    return false;
  }
}

/** The dialog's body: the link field, the preview and the two actions. */
export class OpenLinkBody extends Widget {
  private readonly client: ConvShareClient;
  private readonly workspace: IWorkspace;
  private readonly input: HTMLInputElement;
  private readonly result: HTMLElement;
  private preview: ILinkPreview | null = null;
  private previewedUrl = '';
  private busy = false;
  /** Called with the path "Open as .chat" wrote (the dialog then closes and opens it). */
  onWritten: (path: string) => void = () => undefined;

  constructor(client: ConvShareClient, workspace: IWorkspace, initialUrl = '') {
    super();
    this.client = client;
    this.workspace = workspace;
    this.addClass('jp-convshare-OpenLink');
    const label = el('label', 'jp-convshare-OpenLink-label', 'Share link');
    this.input = el('input', 'jp-mod-styled jp-convshare-OpenLink-url');
    this.input.type = 'url';
    this.input.placeholder = 'https://…/convshare/s/…';
    this.input.value = initialUrl;
    this.input.setAttribute('aria-label', 'Share link');
    const row = el('div', 'jp-convshare-row');
    row.append(this.input, button('Preview', () => void this.showPreview(), 'accept'));
    label.appendChild(row);
    this.result = el('div', 'jp-convshare-OpenLink-result');
    this.result.setAttribute('aria-live', 'polite');
    this.node.append(label, this.result);
  }

  /**
   * Enter inside the body: previews in the link field, presses a focused button of the
   * body. JupyterLab's dialog catches Enter on its node in the capture phase (it would
   * close the dialog, or swallow Enter on a button that is not its own), so this
   * listener sits on the document, in the capture phase, while the body is attached.
   */
  handleEvent(event: Event): void {
    const key = event as KeyboardEvent;
    if (event.type !== 'keydown' || key.key !== 'Enter' || !this.node.contains(event.target as Node)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    if (event.target === this.input) {
      void this.showPreview();
    } else if (event.target instanceof HTMLButtonElement) {
      event.target.click();
    }
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    document.addEventListener('keydown', this, true);
  }

  protected onBeforeDetach(msg: Message): void {
    document.removeEventListener('keydown', this, true);
    super.onBeforeDetach(msg);
  }

  /** The link field (focused when the dialog opens). */
  get urlInput(): HTMLInputElement {
    return this.input;
  }

  /** Ask the server what the link shows. */
  async showPreview(): Promise<void> {
    const url = this.input.value.trim();
    if (!url) {
      this.showError('Paste a share link first.');
      return;
    }
    if (!looksLikeShareLink(url)) {
      this.showError('This is not a share link: it should look like https://…/convshare/s/…');
      return;
    }
    await this.run('Loading…', async () => {
      this.preview = await this.client.previewLink(url);
      this.previewedUrl = url;
      this.renderPreview();
    });
  }

  private async run(pending: string, action: () => Promise<void>): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    const status = el('div', 'jp-convshare-pending', pending);
    this.result.appendChild(status);
    try {
      await action();
    } catch (error) {
      this.showError(messageOf(error));
    } finally {
      status.remove();
      this.busy = false;
    }
  }

  private showError(message: string): void {
    this.result.querySelector('.jp-convshare-error')?.remove();
    const error = el('div', 'jp-convshare-error', message);
    error.setAttribute('role', 'alert');
    this.result.appendChild(error);
  }

  private renderPreview(): void {
    const preview = this.preview;
    this.result.textContent = '';
    if (!preview) {
      return;
    }
    const card = el('div', 'jp-convshare-preview');
    card.appendChild(el('div', 'jp-convshare-preview-title', preview.title || '(untitled conversation)'));
    const facts = [
      `${preview.message_count} message${preview.message_count === 1 ? '' : 's'}`,
      preview.participants.length ? preview.participants.join(', ') : null,
      preview.origin === 'this server' ? 'from this server' : `from ${preview.origin}`,
      preview.updated_at ? `updated ${absoluteTime(preview.updated_at)}` : null
    ].filter((x): x is string => x !== null);
    card.appendChild(el('div', 'jp-convshare-preview-meta', facts.join(' · ')));
    if (preview.summary) {
      card.appendChild(el('blockquote', 'jp-convshare-preview-summary', preview.summary));
    }
    const actions = el('div', 'jp-convshare-row');
    actions.append(
      button('Save to my library', () => void this.saveToLibrary()),
      button('Open as .chat', () => void this.openAsChat(), 'accept')
    );
    card.appendChild(actions);
    this.result.appendChild(card);
  }

  private async saveToLibrary(): Promise<void> {
    await this.run('Saving…', async () => {
      const item = await this.client.saveToLibrary({ url: this.previewedUrl });
      this.result.querySelector('.jp-convshare-done')?.remove();
      const done = el(
        'div',
        'jp-convshare-done',
        item.created ? 'Saved to your library (Shared with you).' : 'It was already in your library.'
      );
      done.setAttribute('role', 'status');
      this.result.appendChild(done);
    });
  }

  private async openAsChat(): Promise<void> {
    await this.run('Writing the .chat file…', async () => {
      const name = chatFileName(this.preview?.title ?? null);
      const path = await freePath(this.workspace.currentFolder(), name, p => this.workspace.exists(p));
      const saved = await this.client.saveLinkAs(this.previewedUrl, path);
      await this.workspace.fileWritten(saved.path);
      this.onWritten(saved.path);
    });
  }
}

/**
 * Show the "Open share link" dialog (`initialUrl`: a link to preview at once).
 * Resolves when it closes.
 */
export async function showOpenLinkDialog(
  client: ConvShareClient,
  workspace: IWorkspace,
  initialUrl = ''
): Promise<void> {
  const body = new OpenLinkBody(client, workspace, initialUrl);
  const dialog = new Dialog({
    title: 'Open share link',
    body,
    focusNodeSelector: '.jp-convshare-OpenLink-url',
    buttons: [Dialog.cancelButton({ label: 'Close' })]
  });
  let written: string | null = null;
  body.onWritten = path => {
    written = path;
    dialog.resolve(0);
  };
  if (initialUrl) {
    void body.showPreview();
  }
  await dialog.launch();
  dialog.dispose();
  if (written !== null) {
    // opened once the modal dialog is gone, so the new tab gets the focus
    await workspace.open(written);
  }
}
