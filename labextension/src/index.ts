/**
 * jupyter-convshare's JupyterLab extension: "Share conversation…" on `.chat` files.
 *
 * jupyterlab-chat is optional: the file-browser entry works on any `.chat` file
 * whether or not jupyterlab-chat is installed, because it only needs the file's path
 * and the server's REST API.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';

import { ConvShareClient } from './api';
import { addCommands } from './commands';

export { ConvShareClient, ConvShareError } from './api';
export { CommandIDs } from './commands';

/** The plugin; its id names its settings schema (`schema/plugin.json`: the context menu entry). */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-convshare:plugin',
  description: 'Share AI conversations (.chat files) as links and QR codes.',
  autoStart: true,
  requires: [IFileBrowserFactory],
  activate: (app: JupyterFrontEnd, factory: IFileBrowserFactory) => {
    const client = new ConvShareClient(app.serviceManager.serverSettings);
    addCommands(app, factory, client);
  }
};

export default plugin;
