/**
 * The extension's commands and the chat-panel toolbar button, in one place (STYLE.md
 * "Front end").
 *
 * jupyterlab-chat is optional. The chat toolbar button is a factory registered for the
 * toolbar named `Chat` (jupyterlab-chat's widget factory) in JupyterLab's toolbar
 * registry, placed by `jupyter.lab.toolbars` in `schema/plugin.json`: without
 * jupyterlab-chat nothing asks for that toolbar, so the factory is never called, and
 * nothing here imports jupyterlab-chat's code.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { linkIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ConvShareClient } from './api';
import { showShareDialog } from './dialog';

/** Command ids. */
export namespace CommandIDs {
  /** Share the `.chat` file selected in the file browser. */
  export const shareFile = 'convshare:share-file';
  /**
   * Share a chat: args `{path?: string}` (relative to the server root); without a path,
   * the chat document of the current main-area widget.
   */
  export const shareChat = 'convshare:share-chat';
}

/** The toolbar (widget factory) name of jupyterlab-chat's chat panels. */
export const CHAT_TOOLBAR = 'Chat';

/** The name of our item in that toolbar (`schema/plugin.json` `jupyter.lab.toolbars`). */
export const CHAT_TOOLBAR_ITEM = 'convshare-share';

/** A jupyterlab-chat document (the only kind the file-browser entry offers to share). */
export function isConversationFile(path: string): boolean {
  return path.toLowerCase().endsWith('.chat');
}

/** What a chat widget exposes, read by duck typing so that jupyterlab-chat stays optional. */
interface IChatLike {
  /** A main-area chat is a document widget: `context.path` (maybe `Drive:dir/a.chat`). */
  context?: { path?: unknown };
  /** A side-panel chat section: `model.name` is the chat file's path. */
  model?: { name?: unknown };
}

/**
 * The path of the `.chat` file a chat widget shows, as the contents manager names it
 * (a drive prefix included), or `null` when `widget` shows no `.chat` file.
 */
export function chatWidgetPath(widget: Widget | null | undefined): string | null {
  if (!widget) {
    return null;
  }
  const chat = widget as unknown as IChatLike;
  const candidates = [chat.context?.path, chat.model?.name];
  for (const path of candidates) {
    if (typeof path === 'string' && isConversationFile(path)) {
      return path;
    }
  }
  return null;
}

/**
 * Register the commands, and the chat toolbar button when the app has a toolbar
 * registry. `factory.tracker` gives the file browser the context menu was opened on;
 * its first selected item is the file to share.
 */
export function addCommands(
  app: JupyterFrontEnd,
  factory: IFileBrowserFactory,
  client: ConvShareClient,
  toolbarRegistry: IToolbarWidgetRegistry | null
): void {
  const { commands, serviceManager, shell } = app;
  // a path of another drive ("RTC:dir/a.chat") is a file of this server's root all the same
  const local = (path: string): string => serviceManager.contents.localPath(path);

  const selectedPath = (): string | null => {
    const browser = factory.tracker.currentWidget;
    if (!browser) {
      return null;
    }
    const item = browser.selectedItems().next();
    if (!item || item.done || !item.value || item.value.type === 'directory') {
      return null;
    }
    return local(item.value.path);
  };

  commands.addCommand(CommandIDs.shareFile, {
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

  const chatPath = (args: { path?: unknown }): string | null => {
    if (typeof args.path === 'string' && isConversationFile(args.path)) {
      return local(args.path);
    }
    const current = chatWidgetPath(shell.currentWidget);
    return current === null ? null : local(current);
  };

  commands.addCommand(CommandIDs.shareChat, {
    label: 'Share conversation…',
    caption: 'Share this chat as a link and QR code',
    icon: linkIcon,
    isEnabled: args => chatPath(args) !== null,
    isVisible: args => chatPath(args) !== null,
    execute: async args => {
      const path = chatPath(args);
      if (path !== null) {
        await showShareDialog(client, path);
      }
    }
  });

  if (toolbarRegistry) {
    // a factory, not a command item: jupyterlab-chat rebuilds command buttons with its
    // own arguments, and the button must know its own chat (main area or side panel)
    toolbarRegistry.addFactory(CHAT_TOOLBAR, CHAT_TOOLBAR_ITEM, (widget: Widget) => {
      const button = new ToolbarButton({
        icon: linkIcon,
        label: 'Share',
        tooltip: 'Share this chat as a link and QR code',
        className: 'jp-convshare-chat-share',
        onClick: () => {
          const path = chatWidgetPath(widget);
          if (path !== null) {
            void commands.execute(CommandIDs.shareChat, { path });
          }
        }
      });
      return button;
    });
  }
}
