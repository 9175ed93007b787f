/**
 * The share dialog of one conversation file: status, link (copy, open, "Share via…"
 * the device's share sheet where the browser has the Web Share API), QR code, expiry,
 * live/snapshot, link on/off, reshare, the grants editor (organization and groups, view
 * or collaborate), rotate and delete, and the secrets and personal data the server found
 * (its findings; the secret warnings from a server without them). DESIGN.md section 8,
 * "JupyterLab". Every action is one REST call through {@link ConvShareClient}; a refused
 * one shows the server's message.
 */

import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import {
  ConvShareClient,
  ConvShareError,
  IFinding,
  IGrant,
  IGroup,
  IInfo,
  IPolicy,
  ISecretWarning,
  IShare,
  IShareChanges,
  Permission,
  PrincipalType,
  ShareMode
} from './api';
import { button, el } from './format';

/** Labels of the server's expiry presets (`core/shares.py` `EXPIRY_PRESETS`). */
const PRESET_LABELS: Record<string, string> = {
  '1h': '1 hour',
  '24h': '24 hours',
  '7d': '7 days',
  '30d': '30 days',
  never: 'Never'
};

/** Labels of a grant's permission. */
const PERMISSION_LABELS: Record<Permission, string> = {
  view: 'Can view',
  collaborate: 'Can collaborate'
};

/** Datalist ids must be unique in the page: one per dialog. */
let datalistCount = 0;

/** Who a grant is for, for people. */
export function grantLabel(grant: Pick<IGrant, 'principal_type' | 'principal'>): string {
  switch (grant.principal_type) {
    case 'organization':
      return 'Everyone in the organization';
    case 'group':
      return `Group ${grant.principal ?? ''}`;
    default:
      return `User ${grant.principal ?? ''}`;
  }
}

/** The Web Share API where the browser has one (phones, some desktops), else `null`. */
function webShare(): ((data: ShareData) => Promise<void>) | null {
  const nav = navigator as Navigator & { share?: (data: ShareData) => Promise<void> };
  return typeof nav.share === 'function' ? nav.share.bind(nav) : null;
}

/** A date for people: the browser's locale and time zone. */
function formatTime(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : 'never';
}

/** A labelled `<select>` of the expiry presets the server allows. */
function expirySelect(info: IInfo, placeholder: string | null): HTMLSelectElement {
  const select = el('select', 'jp-mod-styled jp-convshare-expires');
  select.setAttribute('aria-label', 'Expires');
  if (placeholder !== null) {
    const option = el('option', '', placeholder);
    option.value = '';
    select.appendChild(option);
  }
  for (const preset of info.expiry_presets) {
    const option = el('option', '', `${PRESET_LABELS[preset] ?? preset}`);
    option.value = preset;
    select.appendChild(option);
  }
  if (placeholder === null) {
    select.value = info.default_expires;
  }
  return select;
}

/**
 * The server's settings with only the expiry presets `policy` allows (and its default);
 * without a policy (an older server) the server's own presets.
 */
export function withinPolicy(info: IInfo, policy: IPolicy | null): IInfo {
  if (!policy || !Array.isArray(policy.expiry_presets)) {
    return info;
  }
  const presets = info.expiry_presets.filter(p => policy.expiry_presets.includes(p));
  if (!presets.length) {
    return info; // no preset fits: the server brings a share without one within the cap
  }
  const fallback = presets[presets.length - 1];
  const wanted = presets.includes(info.default_expires) ? info.default_expires : policy.default_expires;
  return { ...info, expiry_presets: presets, default_expires: wanted && presets.includes(wanted) ? wanted : fallback };
}

/** What the policy forbids or caps, for people, naming the level that set it. */
export function policyReasons(policy: IPolicy | null): string[] {
  if (!policy) {
    return [];
  }
  const source = (name: string): string => policy.sources?.[name] ?? 'server';
  const reasons: string[] = [];
  const cap = policy.policy.max_expires_seconds;
  if (cap !== null && cap !== undefined) {
    reasons.push(`Your sharing policy (${source('max_expires_seconds')}) limits links to ${describeSeconds(cap)}.`);
  }
  if (!policy.policy.allow_link) {
    reasons.push(`Your sharing policy (${source('allow_link')}) allows no links for anyone: only people you grant access can open it.`);
  }
  if (!policy.policy.allow_reshare) {
    reasons.push(`Your sharing policy (${source('allow_reshare')}) does not allow resharing.`);
  }
  return reasons;
}

/** `604800` -> `7 days` (as `core/policy.py` `describe_seconds`, in days). */
function describeSeconds(seconds: number): string {
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]] as const) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} seconds`;
}

/** A `<select>` of view / collaborate. */
function permissionSelect(current: Permission, label: string): HTMLSelectElement {
  const select = el('select', 'jp-mod-styled jp-convshare-permission');
  select.setAttribute('aria-label', label);
  for (const value of ['view', 'collaborate'] as const) {
    const option = el('option', '', PERMISSION_LABELS[value]);
    option.value = value;
    select.appendChild(option);
  }
  select.value = current;
  return select;
}

/** A `<select>` of live / snapshot. */
function modeSelect(current: ShareMode): HTMLSelectElement {
  const select = el('select', 'jp-mod-styled jp-convshare-mode');
  select.setAttribute('aria-label', 'Mode');
  for (const [value, label] of [
    ['live', 'Live (follows the file)'],
    ['snapshot', 'Snapshot (frozen copy)']
  ]) {
    const option = el('option', '', label);
    option.value = value;
    select.appendChild(option);
  }
  select.value = current;
  return select;
}

/**
 * The body of the share dialog for the file at `path` (relative to the server root).
 * It loads the file's share on attach and re-renders after every change.
 */
export class ShareBody extends Widget {
  private readonly client: ConvShareClient;
  private readonly path: string;
  private info: IInfo | null = null;
  /** My effective sharing policy; `null` from a server without the route (it still enforces). */
  private policy: IPolicy | null = null;
  private share: IShare | null = null;
  private grants: IGrant[] = [];
  /** The groups a grant may name (suggestions; the server has the last word). */
  private groups: IGroup[] = [];
  private readonly datalistId = `jp-convshare-groups-${++datalistCount}`;
  /** The grant being added: kept across re-renders, so a refused one can be corrected. */
  private draft: { type: PrincipalType; group: string; permission: Permission } = {
    type: 'organization',
    group: '',
    permission: 'view'
  };
  private warnings: ISecretWarning[] = [];
  /** Secrets and personal data viewers may see; `null` from a server without redaction. */
  private findings: IFinding[] | null = null;
  private error = '';
  /** The request field the server named in its error (`principal`: the group name). */
  private errorField: string | null = null;
  private confirmingDelete = false;
  private qrUrl: string | null = null;
  /** The link `qrUrl` encodes: a re-render keeps the image, a rotation fetches a new one. */
  private qrLink: string | null = null;

  constructor(client: ConvShareClient, path: string) {
    super();
    this.client = client;
    this.path = path;
    this.addClass('jp-convshare-ShareBody');
    this.node.appendChild(el('div', 'jp-convshare-status', 'Loading…'));
  }

  /** The share shown, or `null` while the file is not shared. */
  get currentShare(): IShare | null {
    return this.share;
  }

  /** Load the server's settings and the file's share, then render. */
  async load(): Promise<void> {
    await this.act(async () => {
      const [info, share, groups, policy] = await Promise.all([
        this.client.info(),
        this.client.findShareForPath(this.path),
        // no group list is no reason to refuse the dialog: names can still be typed
        this.client.listGroups().catch(() => [] as IGroup[]),
        this.client.policy().catch(() => null)
      ]);
      this.info = withinPolicy(info, policy);
      this.policy = policy;
      this.share = share;
      this.groups = groups;
      this.grants = share ? await this.client.listGrants(share.share_id) : [];
      // an older server has no findings route: the dialog then shows none
      this.findings = share ? await this.client.findings(share.share_id).catch(() => null) : null;
    });
  }

  dispose(): void {
    this.releaseQr();
    super.dispose();
  }

  /** Run one REST action, keep its error for display, and render the result. */
  private async act(action: () => Promise<void>): Promise<void> {
    this.error = '';
    this.errorField = null;
    try {
      await action();
    } catch (error) {
      this.error = error instanceof ConvShareError ? error.message : String(error);
      this.errorField = error instanceof ConvShareError ? error.field : null;
    }
    this.render();
    await this.refreshQr();
  }

  private async create(expires: string, mode: ShareMode): Promise<void> {
    await this.act(async () => {
      const created = await this.client.createShare({ path: this.path, expires, mode });
      this.warnings = created.warnings;
      this.findings = created.findings ?? null;
      this.share = created;
      // "already shared" answers the existing share, which may have grants
      this.grants = created.created ? [] : await this.client.listGrants(created.share_id);
    });
  }

  private async change(changes: IShareChanges): Promise<void> {
    const share = this.share;
    if (share) {
      await this.act(async () => {
        this.share = await this.client.updateShare(share.share_id, changes);
      });
    }
  }

  private async rotate(): Promise<void> {
    const share = this.share;
    if (share) {
      await this.act(async () => {
        this.share = await this.client.rotateLink(share.share_id);
      });
    }
  }

  private async updateSnapshot(): Promise<void> {
    const share = this.share;
    if (share) {
      await this.act(async () => {
        this.share = await this.client.updateSnapshot(share.share_id);
      });
    }
  }

  private async revoke(): Promise<void> {
    const share = this.share;
    if (share) {
      this.confirmingDelete = false;
      await this.act(async () => {
        await this.client.revokeShare(share.share_id);
        this.share = null;
        this.grants = [];
        this.warnings = [];
        this.findings = null;
      });
    }
  }

  /** Grant the draft's permission to the organization or to its group (one POST). */
  private async addGrant(): Promise<void> {
    const share = this.share;
    if (!share) {
      return;
    }
    const { type, permission } = this.draft;
    const name = this.draft.group.trim();
    if (type === 'group' && !name) {
      this.error = 'Type the name of a group to grant access to.';
      this.errorField = 'principal';
      this.render();
      await this.refreshQr();
      return;
    }
    await this.act(async () => {
      await this.client.addGrant(share.share_id, type, type === 'group' ? name : null, permission);
      this.grants = await this.client.listGrants(share.share_id);
      this.draft = { type: 'organization', group: '', permission: 'view' };
    });
  }

  private async changeGrant(grant: IGrant, permission: Permission): Promise<void> {
    const share = this.share;
    if (share) {
      await this.act(async () => {
        const changed = await this.client.updateGrant(share.share_id, grant.grant_id, permission);
        this.grants = this.grants.map(g => (g.grant_id === changed.grant_id ? changed : g));
      });
    }
  }

  private async removeGrant(grant: IGrant): Promise<void> {
    const share = this.share;
    if (share) {
      await this.act(async () => {
        await this.client.removeGrant(share.share_id, grant.grant_id);
        this.grants = this.grants.filter(g => g.grant_id !== grant.grant_id);
      });
    }
  }

  /** Hand the link to the device's share sheet; closing the sheet is no error. */
  private async shareVia(share: IShare, open: (data: ShareData) => Promise<void>): Promise<void> {
    try {
      await open({ title: share.title || 'Shared conversation', url: share.url });
    } catch (error) {
      if ((error as Error).name !== 'AbortError') {
        this.error = `Could not open the share sheet: ${(error as Error).message}`;
        this.render();
        await this.refreshQr();
      }
    }
  }

  private releaseQr(): void {
    if (this.qrUrl) {
      URL.revokeObjectURL(this.qrUrl);
      this.qrUrl = null;
      this.qrLink = null;
    }
  }

  /** Fetch the QR of the current link (authenticated, so an <img> from a blob URL). */
  private async refreshQr(): Promise<void> {
    const img = this.node.querySelector<HTMLImageElement>('img.jp-convshare-qr');
    const share = this.share;
    if (!img || !share || !share.link_enabled || share.link === this.qrLink) {
      return;
    }
    try {
      const blob = await this.client.qrSvg(share.share_id);
      this.releaseQr();
      this.qrUrl = URL.createObjectURL(blob);
      this.qrLink = share.link;
      img.src = this.qrUrl;
    } catch (error) {
      img.alt = `QR code unavailable: ${(error as Error).message}`;
    }
  }

  private render(): void {
    const node = this.node;
    node.textContent = '';
    node.appendChild(el('div', 'jp-convshare-path', this.path));
    const share = this.share;
    const info = this.info;

    const status = el('div', 'jp-convshare-status');
    if (!share) {
      status.textContent = 'Not shared';
    } else {
      const expires = share.expires_at ? `expires ${formatTime(share.expires_at)}` : 'never expires';
      status.textContent = `Shared since ${formatTime(share.created_at)} · ${expires} · ${share.view_count} view${share.view_count === 1 ? '' : 's'}`;
    }
    node.appendChild(status);

    if (this.findings && this.findings.length) {
      this.renderFindings(this.findings);
    } else if (this.warnings.length) {
      const list = el('ul', 'jp-convshare-warnings');
      list.setAttribute('role', 'alert');
      list.appendChild(el('strong', '', 'This conversation may contain secrets; think twice before handing out the link:'));
      for (const warning of this.warnings) {
        list.appendChild(el('li', '', warning.message));
      }
      node.appendChild(list);
    }

    if (info && !share) {
      const expires = expirySelect(info, null);
      const mode = modeSelect('live');
      const row = el('div', 'jp-convshare-row');
      const expiresLabel = el('label', '', 'Expires ');
      expiresLabel.appendChild(expires);
      row.append(expiresLabel, mode);
      node.appendChild(row);
      for (const reason of policyReasons(this.policy)) {
        node.appendChild(el('div', 'jp-convshare-policy', reason));
      }
      node.appendChild(
        button('Create link', () => void this.create(expires.value, mode.value as ShareMode), 'accept')
      );
    }

    if (info && share) {
      this.renderShare(share, info);
    }

    if (this.error) {
      const error = el('div', 'jp-convshare-error', this.error);
      error.setAttribute('role', 'alert');
      node.appendChild(error);
      // the dialog scrolls: a refusal below the fold would go unseen
      error.scrollIntoView?.({ block: 'nearest' });
    }
  }

  private renderShare(share: IShare, info: IInfo): void {
    const node = this.node;
    if (share.link_enabled) {
      const linkRow = el('div', 'jp-convshare-row');
      const link = el('input', 'jp-mod-styled jp-convshare-link');
      link.readOnly = true;
      link.value = share.url;
      link.setAttribute('aria-label', 'Link');
      const copy = button('Copy', () => {
        Clipboard.copyToSystem(share.url);
        copy.textContent = 'Copied';
      });
      linkRow.append(
        link,
        copy,
        button('Open in new tab', () => window.open(share.url, '_blank', 'noopener,noreferrer'))
      );
      const sheet = webShare();
      if (sheet) {
        linkRow.appendChild(button('Share via…', () => void this.shareVia(share, sheet)));
      }
      node.appendChild(linkRow);
    } else {
      node.appendChild(el('div', '', 'The link is off: only people with a grant can open it.'));
    }
    const columns = el('div', 'jp-convshare-columns');
    if (share.link_enabled) {
      const qr = el('img', 'jp-convshare-qr');
      qr.alt = 'QR code of the link';
      if (this.qrUrl && this.qrLink === share.link) {
        qr.src = this.qrUrl;
      }
      columns.appendChild(qr);
    }
    const controls = el('div', 'jp-convshare-controls');
    columns.appendChild(controls);
    node.appendChild(columns);

    const settings = el('div', 'jp-convshare-row');
    const expires = expirySelect(info, 'Change expiry…');
    expires.addEventListener('change', () => {
      if (expires.value) {
        void this.change({ expires: expires.value });
      }
    });
    const mode = modeSelect(share.mode);
    mode.addEventListener('change', () => void this.change({ mode: mode.value as ShareMode }));
    settings.append(expires, mode);
    controls.appendChild(settings);

    const switches = el('div', 'jp-convshare-switches');
    for (const [key, label] of [
      ['link_enabled', 'Anyone with the link can view'],
      ['allow_reshare', 'Recipients may reshare']
    ] as const) {
      const box = el('input', `jp-convshare-${key}`);
      box.type = 'checkbox';
      box.checked = share[key];
      // the policy forbids turning it on (turning off a share made before stays possible)
      const forbidden = this.policy !== null && !this.policy.policy[key === 'link_enabled' ? 'allow_link' : 'allow_reshare'];
      box.disabled = forbidden && !share[key];
      box.addEventListener('change', () => void this.change({ [key]: box.checked }));
      const wrapper = el('label', '');
      wrapper.append(box, document.createTextNode(label));
      switches.appendChild(wrapper);
    }
    controls.appendChild(switches);
    const reasons = policyReasons(this.policy);
    if (reasons.length) {
      const note = el('div', 'jp-convshare-policy');
      for (const reason of reasons) {
        note.appendChild(el('div', '', reason));
      }
      controls.appendChild(note);
    }

    const actions = el('div', 'jp-convshare-row');
    if (share.mode === 'snapshot') {
      actions.appendChild(button('Update snapshot', () => void this.updateSnapshot()));
    }
    actions.append(
      button('Rotate link', () => void this.rotate()),
      button('Delete share', () => {
        this.confirmingDelete = true;
        this.render();
        void this.refreshQr();
      })
    );
    controls.appendChild(actions);

    this.renderGrants();

    if (this.confirmingDelete) {
      const confirm = el('div', 'jp-convshare-confirm jp-convshare-row');
      confirm.setAttribute('role', 'alertdialog');
      confirm.append(
        el('span', '', 'Delete this share? Its link stops working at once.'),
        button('Cancel', () => {
          this.confirmingDelete = false;
          this.render();
          void this.refreshQr();
        }),
        button('Delete', () => void this.revoke(), 'warn')
      );
      node.appendChild(confirm);
    }
  }

  /**
   * What the server found that viewers may see (secrets first), each with its masked
   * preview and whether the share's redaction choices already hide it from viewers.
   */
  private renderFindings(findings: IFinding[]): void {
    const box = el('div', 'jp-convshare-warnings jp-convshare-findings');
    box.setAttribute('role', 'alert');
    const secrets = findings.filter(f => f.category === 'secret').length;
    box.appendChild(
      el(
        'strong',
        '',
        secrets
          ? 'This conversation may contain secrets; think twice before handing out the link:'
          : 'Before handing out the link, check what viewers may see:'
      )
    );
    const list = el('ul', '');
    const ordered = [...findings].sort((a, b) => Number(b.category === 'secret') - Number(a.category === 'secret'));
    for (const finding of ordered) {
      const item = el('li', `jp-convshare-finding jp-mod-${finding.category}`);
      item.append(
        document.createTextNode(`${finding.message} `),
        el('code', '', finding.preview),
        el('span', 'jp-convshare-finding-state', finding.hidden ? ' hidden from viewers' : ' visible to viewers')
      );
      list.appendChild(item);
    }
    box.appendChild(list);
    this.node.appendChild(box);
  }

  /**
   * The grants editor: who besides link holders may open the share (the organization,
   * groups; users granted through the API are listed too), each with view or
   * collaborate, changed or removed in place; an add row for the organization or a group.
   */
  private renderGrants(): void {
    const section = el('fieldset', 'jp-convshare-grants');
    section.appendChild(el('legend', '', 'People with access'));
    if (!this.grants.length) {
      section.appendChild(el('div', 'jp-convshare-muted', 'No grants: signed-in users need the link too.'));
    } else {
      const list = el('ul', 'jp-convshare-grant-list');
      for (const grant of this.grants) {
        const label = grantLabel(grant);
        const item = el('li', 'jp-convshare-grant jp-convshare-row');
        item.dataset.principalType = grant.principal_type;
        item.dataset.principal = grant.principal ?? '';
        const permission = permissionSelect(grant.permission, `Permission of ${label}`);
        permission.addEventListener('change', () => void this.changeGrant(grant, permission.value as Permission));
        const remove = button('Remove', () => void this.removeGrant(grant));
        remove.setAttribute('aria-label', `Remove ${label}`);
        item.append(el('span', 'jp-convshare-grant-who', label), permission, remove);
        list.appendChild(item);
      }
      section.appendChild(list);
    }

    const add = el('div', 'jp-convshare-row jp-convshare-grant-add');
    const type = el('select', 'jp-mod-styled jp-convshare-grant-type');
    type.setAttribute('aria-label', 'Grant to');
    for (const [value, label] of [
      ['organization', 'Organization'],
      ['group', 'Group…']
    ]) {
      const option = el('option', '', label);
      option.value = value;
      type.appendChild(option);
    }
    type.value = this.draft.type;
    const group = el('input', 'jp-mod-styled jp-convshare-grant-group');
    group.setAttribute('aria-label', 'Group name');
    group.placeholder = 'group name';
    group.setAttribute('list', this.datalistId);
    group.value = this.draft.group;
    group.hidden = this.draft.type !== 'group';
    if (this.error && this.errorField === 'principal') {
      group.setAttribute('aria-invalid', 'true');
    }
    group.addEventListener('input', () => {
      this.draft.group = group.value;
    });
    const suggestions = el('datalist', '');
    suggestions.id = this.datalistId;
    for (const known of this.groups) {
      const option = el('option', '');
      option.value = known.name;
      option.label = `${known.name} (${known.members} member${known.members === 1 ? '' : 's'})`;
      suggestions.appendChild(option);
    }
    type.addEventListener('change', () => {
      this.draft.type = type.value as PrincipalType;
      group.hidden = type.value !== 'group';
      if (!group.hidden) {
        group.focus();
      }
    });
    const permission = permissionSelect(this.draft.permission, 'Permission to grant');
    permission.addEventListener('change', () => {
      this.draft.permission = permission.value as Permission;
    });
    add.append(type, group, suggestions, permission, button('Add', () => void this.addGrant()));
    section.appendChild(add);
    this.node.appendChild(section);
  }
}

/**
 * Show the share dialog of the conversation file at `path` (relative to the server
 * root); resolves when the user closes it.
 */
export async function showShareDialog(client: ConvShareClient, path: string): Promise<void> {
  const body = new ShareBody(client, path);
  void body.load();
  await showDialog({
    title: 'Share conversation',
    body,
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
}
