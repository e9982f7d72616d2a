/**
 * Datalab inside JupyterLab: the credentials status bar item, the Connection details panel (command
 * palette, launcher, status bar click) and the notices of the session's start; uploads into the S3 folder
 * streamed in one request (./upload).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IStatusBar } from '@jupyterlab/statusbar';

import { connectionIcon } from './icons';
import { showNotices } from './notices';
import { ConnectionPanel } from './panel';
import { CredentialsStatusItem } from './statusbar';
import { uploadPlugin } from './upload';

const OPEN = 'datalab:connection-details';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-datalab:plugin',
  description: 'Credentials status, connection details and session notices of a Datalab session.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ) => {
    const tracker = new WidgetTracker<MainAreaWidget<ConnectionPanel>>({ namespace: 'datalab' });
    const item = new CredentialsStatusItem(() => void app.commands.execute(OPEN));

    app.commands.addCommand(OPEN, {
      label: 'Connection details',
      caption: 'Your S3 locations, PostgreSQL and Vault, with snippets for Python, R and the AWS CLI',
      icon: connectionIcon,
      execute: () => {
        const open = tracker.currentWidget;
        if (open && !open.isDisposed) {
          void open.content.refresh();
          app.shell.activateById(open.id);
          return open;
        }
        const content = new ConnectionPanel({
          credentials: () => ({ status: item.status, elapsed: item.elapsed }),
          refreshCredentials: () => item.refresh(),
          openFolder: path => void app.commands.execute('filebrowser:go-to-path', { path: `/${path}` })
        });
        const widget = new MainAreaWidget({ content });
        widget.id = 'datalab-connection-details';
        widget.title.label = 'Connection details';
        widget.title.icon = connectionIcon;
        widget.title.closable = true;
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    palette?.addItem({ command: OPEN, category: 'Datalab' });
    launcher?.add({ command: OPEN, category: 'Other', rank: 0 });
    if (restorer) {
      void restorer.restore(tracker, { command: OPEN, name: () => 'connection-details' });
    }
    statusBar?.registerStatusItem('jupyterlab-datalab:credentials', {
      item,
      align: 'left',
      rank: 100
    });

    void app.restored.then(() =>
      showNotices(path => void app.commands.execute('docmanager:open', { path }))
    );
  }
};

export default [plugin, uploadPlugin];
