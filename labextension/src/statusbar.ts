/**
 * The status bar item: S3 and Vault credentials valid and renewing (with the soonest expiry counting down),
 * or a clear warning when not. A click opens Connection details.
 */

import { Widget } from '@lumino/widgets';

import { getJSON } from './api';
import { keyIcon } from './icons';
import { CredentialsStatus, describeStatus, Level } from './model';

const POLL_MS = 30_000;
const LEVELS: Level[] = ['ok', 'warning', 'error', 'off'];

export class CredentialsStatusItem extends Widget {
  constructor(onOpen: () => void) {
    super({ node: document.createElement('button') });
    this.addClass('datalab-CredentialsStatus');
    this.node.setAttribute('type', 'button');
    this.node.setAttribute('aria-live', 'polite');
    const icon = document.createElement('span');
    icon.className = 'datalab-CredentialsStatus-icon';
    keyIcon.element({ container: icon, elementPosition: 'center', height: '14px', width: '14px' });
    this._text = document.createElement('span');
    this._text.className = 'datalab-CredentialsStatus-text';
    this._text.textContent = 'Credentials…';
    this.node.append(icon, this._text);
    this.node.addEventListener('click', onOpen);
    void this.refresh();
    this._poll = window.setInterval(() => void this.refresh(), POLL_MS);
    this._tick = window.setInterval(() => this.render(), 1000);
  }

  /** Ask the session again (also called when the panel opens). */
  async refresh(): Promise<void> {
    try {
      this._status = await getJSON<CredentialsStatus>('credentials/status');
      this._problem = '';
    } catch (e) {
      this._status = null;
      this._problem = (e as Error).message;
    }
    this._fetchedAt = Date.now();
    this.render();
  }

  get status(): CredentialsStatus | null {
    return this._status;
  }

  get elapsed(): number {
    return (Date.now() - this._fetchedAt) / 1000;
  }

  private render(): void {
    if (this._fetchedAt === 0) {
      return;
    }
    const view = describeStatus(this._status, this.elapsed, this._problem);
    for (const level of LEVELS) {
      this.node.classList.toggle(`datalab-mod-${level}`, view.level === level);
    }
    this._text.textContent = view.label;
    this.node.title = `${view.title}\n\nClick for connection details.`;
    this.node.setAttribute('aria-label', `Credentials: ${view.label}`);
  }

  dispose(): void {
    window.clearInterval(this._poll);
    window.clearInterval(this._tick);
    super.dispose();
  }

  private _text: HTMLSpanElement;
  private _status: CredentialsStatus | null = null;
  private _problem = '';
  private _fetchedAt = 0;
  private _poll: number;
  private _tick: number;
}
