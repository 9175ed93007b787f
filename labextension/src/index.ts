/**
 * jupyter-convshare's JupyterLab extension: "Share conversation…" on `.chat` files.
 *
 * jupyterlab-chat is optional: the file-browser entry works on any `.chat` file
 * whether or not jupyterlab-chat is installed, because it only needs the file's path
 * and the server's REST API.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';

import { ConvShareClient } from './api';
import { addCommands } from './commands';
import { sharesPlugin } from './shares-plugin';

export { ConvShareClient, ConvShareError } from './api';
export { CommandIDs } from './commands';
export { SharesCommandIDs } from './shares-plugin';

/**
 * The plugin; its id names its settings schema (`schema/plugin.json`: the context menu
 * entry, the File menu entry and the chat panel's toolbar button). The toolbar registry
 * is optional: without it (or without jupyterlab-chat) there is simply no chat button.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-convshare:plugin',
  description: 'Share AI conversations (.chat files) as links and QR codes.',
  autoStart: true,
  requires: [IFileBrowserFactory],
  optional: [IToolbarWidgetRegistry],
  activate: (app: JupyterFrontEnd, factory: IFileBrowserFactory, toolbarRegistry: IToolbarWidgetRegistry | null) => {
    const client = new ConvShareClient(app.serviceManager.serverSettings);
    addCommands(app, factory, client, toolbarRegistry);
  }
};

// the shares sidebar, status item and "Open share link…" (src/shares-plugin.ts)
export default [plugin, sharesPlugin];
