/**
 * The extension's commands, in one place (STYLE.md "Front end").
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { linkIcon } from '@jupyterlab/ui-components';

import { ConvShareClient } from './api';
import { showShareDialog } from './dialog';

/** Command ids. */
export namespace CommandIDs {
  /** Share the `.chat` file selected in the file browser. */
  export const shareFile = 'convshare:share-file';
}

/** A jupyterlab-chat document (the only kind the file-browser entry offers to share). */
export function isConversationFile(path: string): boolean {
  return path.toLowerCase().endsWith('.chat');
}

/**
 * Register the commands. `factory.tracker` gives the file browser the context menu
 * was opened on; its first selected item is the file to share.
 */
export function addCommands(app: JupyterFrontEnd, factory: IFileBrowserFactory, client: ConvShareClient): void {
  const selectedPath = (): string | null => {
    const browser = factory.tracker.currentWidget;
    if (!browser) {
      return null;
    }
    const item = browser.selectedItems().next();
    if (!item || item.done || !item.value || item.value.type === 'directory') {
      return null;
    }
    // a path of another drive ("Drive:dir/a.chat") is not a file of this server's root
    return app.serviceManager.contents.localPath(item.value.path);
  };

  app.commands.addCommand(CommandIDs.shareFile, {
    label: 'Share conversation…',
    caption: 'Share this conversation as a link and QR code',
    icon: linkIcon,
    isVisible: () => {
      const path = selectedPath();
      return path !== null && isConversationFile(path);
    },
    execute: async () => {
      const path = selectedPath();
      if (path !== null) {
        await showShareDialog(client, path);
      }
    }
  });
}
