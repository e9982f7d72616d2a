/**
 * Notices of the session's start (a git clone that failed), shown once the workspace is restored, as
 * JupyterLab notifications that stay until dismissed. The same notice is a file at the top of the home.
 */

import { Notification } from '@jupyterlab/apputils';

import { getJSON } from './api';
import { Notice, noticesToShow } from './model';

const DISMISSED_KEY = 'jupyterlab-datalab:dismissed-notices';

function dismissed(): string[] {
  try {
    const value = JSON.parse(window.localStorage.getItem(DISMISSED_KEY) ?? '[]');
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

function dismiss(id: string): void {
  const kept = [...dismissed().slice(-50), id];
  window.localStorage.setItem(DISMISSED_KEY, JSON.stringify(kept));
}

export async function showNotices(openFile: (path: string) => void): Promise<void> {
  let notices: Notice[];
  try {
    notices = (await getJSON<{ notices: Notice[] }>('notices')).notices;
  } catch (e) {
    console.warn('jupyterlab-datalab: could not read the session notices', e);
    return;
  }
  for (const notice of noticesToShow(notices, dismissed())) {
    // Toasts show about 140 characters: the repository and the folder, the rest is in the file.
    const message =
      notice.kind === 'git-clone-failed' && notice.repository
        ? `The git clone of ${notice.repository} failed: this session started without ~/${notice.folder}.`
        : notice.message;
    const actions: Notification.IAction[] = [];
    if (notice.path) {
      actions.push({
        label: 'Show details',
        caption: `Open ${notice.path}`,
        displayType: 'accent',
        callback: () => openFile(notice.path as string)
      });
    }
    actions.push({ label: 'Dismiss', caption: 'Do not show this notice again', callback: () => dismiss(notice.id) });
    Notification.warning(message, { autoClose: false, actions });
  }
}
