/**
 * The "Connection details" panel: the user's S3 locations with copyable s3:// paths, ready-to-paste
 * snippets (Python, R, the AWS CLI), the PostgreSQL variables and the Vault folder. The data comes from
 * GET <base_url>datalab/connection, which never holds a secret value.
 */

import { Clipboard } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ConnectionDetails, getJSON, S3Location, Snippet } from './api';
import { CredentialsStatus, describeStatus } from './model';

export interface PanelOptions {
  credentials: () => { status: CredentialsStatus | null; elapsed: number };
  refreshCredentials: () => Promise<void>;
  openFolder: (path: string) => void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

function copyButton(text: string, what: string): HTMLButtonElement {
  const button = el('button', 'jp-Button datalab-CopyButton', 'Copy');
  button.type = 'button';
  button.title = `Copy ${what}`;
  button.setAttribute('aria-label', `Copy ${what}`);
  button.addEventListener('click', () => {
    Clipboard.copyToSystem(text);
    button.textContent = 'Copied';
    button.classList.add('datalab-mod-copied');
    window.setTimeout(() => {
      button.textContent = 'Copy';
      button.classList.remove('datalab-mod-copied');
    }, 1500);
  });
  return button;
}

/** Tabs of snippets (one per language or library), each with its own Copy button. */
function snippetTabs(snippets: Snippet[], name: string): HTMLElement {
  const box = el('div', 'datalab-Snippets');
  const tabs = el('div', 'datalab-Snippets-tabs');
  tabs.setAttribute('role', 'tablist');
  tabs.setAttribute('aria-label', name);
  const body = el('div', 'datalab-Snippets-body');
  body.setAttribute('role', 'tabpanel');
  const buttons: HTMLButtonElement[] = [];
  const show = (i: number) => {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      b.classList.toggle('datalab-mod-selected', i === j);
    });
    const snippet = snippets[i];
    const pre = el('pre', `datalab-Code datalab-lang-${snippet.language}`);
    pre.dataset.snippet = snippet.id;
    pre.append(el('code', '', snippet.code));
    body.replaceChildren(pre, copyButton(snippet.code, `the ${snippet.label} snippet`));
  };
  snippets.forEach((snippet, i) => {
    const b = el('button', 'datalab-Snippets-tab', snippet.label);
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.dataset.snippet = snippet.id;
    b.addEventListener('click', () => show(i));
    b.addEventListener('keydown', event => {
      const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
      if (step) {
        const next = (i + step + snippets.length) % snippets.length;
        show(next);
        buttons[next].focus();
      }
    });
    buttons.push(b);
    tabs.append(b);
  });
  box.append(tabs, body);
  if (snippets.length) {
    show(0);
  }
  return box;
}

function section(title: string, hint = ''): HTMLElement {
  const node = el('section', 'datalab-Section');
  node.append(el('h2', 'datalab-Section-title', title));
  if (hint) {
    node.append(el('p', 'datalab-Hint', hint));
  }
  return node;
}

function table(rows: [string, Node | string][]): HTMLTableElement {
  const t = el('table', 'datalab-Table');
  for (const [name, value] of rows) {
    const tr = el('tr');
    tr.append(el('th', '', name));
    const td = el('td');
    td.append(value);
    tr.append(td);
    t.append(tr);
  }
  return t;
}

function codeWithCopy(text: string, what: string): HTMLElement {
  const span = el('span', 'datalab-Copyable');
  span.append(el('code', '', text), copyButton(text, what));
  return span;
}

export class ConnectionPanel extends Widget {
  constructor(private options: PanelOptions) {
    super();
    this.addClass('datalab-ConnectionPanel');
    this.node.tabIndex = -1;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    let details: ConnectionDetails | null = null;
    let problem = '';
    try {
      [details] = await Promise.all([
        getJSON<ConnectionDetails>('connection'),
        this.options.refreshCredentials()
      ]);
    } catch (e) {
      problem = (e as Error).message;
    }
    this.render(details, problem);
  }

  private render(details: ConnectionDetails | null, problem: string): void {
    const page = el('div', 'datalab-Page');
    const header = el('header', 'datalab-Header');
    const heading = el('div');
    heading.append(
      el('h1', '', 'Connection details'),
      el('p', 'datalab-Hint', 'Where your data is and how to reach it. Nothing here is a secret: ' +
        'keys, tokens and passwords stay in files only your session reads, and renew themselves.')
    );
    const reload = el('button', 'jp-Button datalab-Reload', 'Refresh');
    reload.type = 'button';
    reload.addEventListener('click', () => void this.refresh());
    header.append(heading, reload);
    page.append(header, this.credentials());
    if (!details) {
      page.append(el('p', 'datalab-Problem', `The session did not answer (${problem}).`));
    } else {
      page.append(...this.s3(details), ...this.postgres(details), ...this.vault(details));
      if (details.environment.length) {
        const env = section('Environment', 'Set in every terminal and kernel of this session.');
        env.append(table(details.environment.map(v => [v.name, codeWithCopy(v.value, v.name)])));
        page.append(env);
      }
    }
    this.node.replaceChildren(page);
  }

  private credentials(): HTMLElement {
    const { status, elapsed } = this.options.credentials();
    const view = describeStatus(status, elapsed);
    const node = section('Credentials');
    const badge = el('div', `datalab-Banner datalab-mod-${view.level}`);
    const headline = {
      ok: 'Valid, and renewed automatically',
      warning: 'Valid, but the last renewals failed',
      error: view.label,
      off: view.label
    }[view.level];
    badge.append(el('strong', '', headline));
    const lines = view.title.split('\n').filter(l => !l.startsWith('Renewed automatically'));
    for (const line of lines) {
      badge.append(el('div', '', line));
    }
    if (view.level === 'error') {
      badge.append(
        el('div', '', 'Save your work, then restart the server from the hub (File > Hub Control Panel) ' +
          'to get new credentials.')
      );
    }
    node.append(badge);
    return node;
  }

  private s3(details: ConnectionDetails): HTMLElement[] {
    const s3 = details.s3;
    const node = section('S3 storage');
    for (const gone of details.unavailable_projects ?? []) {
      node.append(
        el('p', 'datalab-Hint datalab-Problem', `Project ${gone.name}: its storage is unavailable in this session (${gone.reason}).`)
      );
    }
    if (!s3 || !s3.locations.length) {
      node.append(el('p', 'datalab-Hint', 'This session has no S3 location.'));
      return [node];
    }
    const facts: [string, Node | string][] = [];
    if (s3.endpoint) {
      facts.push(['Endpoint', codeWithCopy(s3.endpoint, 'the endpoint')]);
    }
    facts.push(['Region', s3.region]);
    node.append(table(facts));
    const list = el('div', 'datalab-Locations');
    let current = s3.locations[0];
    const snippets = el('div');
    const showSnippets = (loc: S3Location) => {
      current = loc;
      snippets.replaceChildren(
        el('h3', 'datalab-Sub', `Use ${loc.url} from code`),
        snippetTabs(loc.snippets, `Snippets for ${loc.url}`)
      );
      list.querySelectorAll('.datalab-Location').forEach(row => {
        row.classList.toggle('datalab-mod-selected', (row as HTMLElement).dataset.location === current.name);
      });
    };
    for (const loc of s3.locations) {
      const row = el('div', 'datalab-Location');
      row.dataset.location = loc.name;
      const name = el('div', 'datalab-Location-name');
      name.append(el('strong', '', loc.name), el('span', `datalab-Kind datalab-kind-${loc.kind}`, loc.kind_label));
      if (!loc.writable) {
        name.append(el('span', 'datalab-Kind datalab-kind-readonly', 'read-only'));
      }
      const actions = el('div', 'datalab-Location-actions');
      if (s3.locations.length > 1) {
        const use = el('button', 'jp-Button datalab-Small', 'Snippets');
        use.type = 'button';
        use.title = `Show snippets for ${loc.url}`;
        use.addEventListener('click', () => showSnippets(loc));
        actions.append(use);
      }
      if (loc.browser_path) {
        const open = el('button', 'jp-Button datalab-Small', 'Open folder');
        open.type = 'button';
        open.title = `Show ${loc.browser_path} in the file browser`;
        open.addEventListener('click', () => this.options.openFolder(loc.browser_path as string));
        actions.append(open);
      }
      row.append(name, codeWithCopy(loc.url, loc.url), actions);
      list.append(row);
    }
    node.append(list, snippets);
    showSnippets(current);
    return [node];
  }

  private postgres(details: ConnectionDetails): HTMLElement[] {
    const pg = details.postgres;
    if (!pg) {
      return [];
    }
    const node = section('PostgreSQL', 'Every PostgreSQL client reads these variables: connect with no arguments.');
    node.append(
      table(
        pg.variables.map(v => [
          v.name,
          v.secret ? el('span', 'datalab-Hint', 'set in your session (not shown)') : codeWithCopy(v.value ?? '', v.name)
        ])
      ),
      snippetTabs(pg.snippets, 'PostgreSQL snippets')
    );
    return [node];
  }

  private vault(details: ConnectionDetails): HTMLElement[] {
    const vault = details.vault;
    if (!vault) {
      return [];
    }
    const node = section('Vault', 'Your token is in ~/.vault-token and renews itself; hvac and the vault CLI read it.');
    const rows: [string, Node | string][] = [
      ['Address', codeWithCopy(vault.addr, 'the Vault address')],
      ['Mount', codeWithCopy(vault.mount, 'the mount')]
    ];
    if (vault.top_dir) {
      rows.push(['Your folder', codeWithCopy(vault.path, 'your Vault folder')]);
    }
    for (const project of vault.projects ?? []) {
      rows.push([`Project ${project.name}`, codeWithCopy(project.path, `the Vault folder of project ${project.name}`)]);
    }
    node.append(table(rows));
    if (vault.snippets.length) {
      node.append(snippetTabs(vault.snippets, 'Vault snippets'));
    }
    return [node];
  }
}
