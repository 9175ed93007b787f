/**
 * The second plugin of the extension: the shares sidebar (left area), the share status
 * item (status bar, optional), and the "Open share link…" and "Show conversation
 * shares" commands (command palette, optional).
 *
 * Its commands live here rather than in `commands.ts` (the share dialog's) so the two
 * plugins stay independent: either loads without the other.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IStatusBar } from '@jupyterlab/statusbar';
import { linkIcon, shareIcon } from '@jupyterlab/ui-components';

import { ConvShareClient } from './api';
import { showOpenLinkDialog } from './openlink';
import { IWorkspace, SharesSidebar } from './sidebar';
import { ShareStatus } from './status';

/** Command ids of this plugin. */
export namespace SharesCommandIDs {
  /** Paste a share link: preview it, save it to my library or open it as a `.chat` file. */
  export const openShareLink = 'convshare:open-share-link';
  /** Show the shares sidebar. */
  export const showShares = 'convshare:show-shares';
}

/** The workspace as the sidebar and the dialog see it: file browser + contents + documents. */
function workspaceOf(app: JupyterFrontEnd, factory: IFileBrowserFactory): IWorkspace {
  const contents = app.serviceManager.contents;
  return {
    currentFolder: () => {
      const browser = factory.tracker.currentWidget;
      return browser ? contents.localPath(browser.model.path) : '';
    },
    exists: async (path: string) => {
      try {
        await contents.get(path, { content: false });
        return true;
      } catch {
        return false;
      }
    },
    fileWritten: async () => {
      await factory.tracker.currentWidget?.model.refresh();
    },
    open: async (path: string) => {
      // the default viewer of .chat (jupyterlab-chat's panel), else the text editor: the
      // chat panel opens nothing when its collaborative back end is missing
      let widget: unknown = null;
      try {
        widget = await app.commands.execute('docmanager:open', { path });
      } catch (error) {
        console.warn(`jupyter-convshare: the default viewer did not open ${path}`, error);
      }
      if (!widget) {
        await app.commands.execute('docmanager:open', { path, factory: 'Editor' });
      }
    }
  };
}

/** The sidebar, status item and open-link plugin. */
export const sharesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-convshare:shares',
  description: 'Conversation shares sidebar, share status in the status bar, and Open share link.',
  autoStart: true,
  requires: [IFileBrowserFactory],
  optional: [ICommandPalette, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    factory: IFileBrowserFactory,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null
  ) => {
    const client = new ConvShareClient(app.serviceManager.serverSettings);
    const workspace = workspaceOf(app, factory);

    app.commands.addCommand(SharesCommandIDs.openShareLink, {
      label: 'Open share link…',
      caption: 'Preview a conversation share link, save it to your library or open it as a .chat file',
      icon: linkIcon,
      execute: args => showOpenLinkDialog(client, workspace, typeof args.url === 'string' ? args.url : '')
    });

    const sidebar = new SharesSidebar(client, workspace, () => {
      void app.commands.execute(SharesCommandIDs.openShareLink);
    });
    sidebar.title.icon = shareIcon;
    app.shell.add(sidebar, 'left', { rank: 850 });

    app.commands.addCommand(SharesCommandIDs.showShares, {
      label: 'Show conversation shares',
      caption: 'My shares and conversations shared with you',
      icon: shareIcon,
      execute: () => app.shell.activateById(sidebar.id)
    });

    if (palette) {
      const category = 'Conversation sharing';
      palette.addItem({ command: SharesCommandIDs.openShareLink, category });
      palette.addItem({ command: SharesCommandIDs.showShares, category });
    }

    if (statusBar) {
      const status = new ShareStatus(
        client,
        path => app.serviceManager.contents.localPath(path),
        () => app.shell.activateById(sidebar.id)
      );
      statusBar.registerStatusItem('jupyter-convshare:share-status', {
        item: status,
        align: 'left',
        rank: 5,
        isActive: () => status.isActive,
        activeStateChanged: status.activeChanged
      });
      status.setWidget(app.shell.currentWidget);
      app.shell.currentChanged?.connect((_, change) => status.setWidget(change.newValue));
    }
  }
};
