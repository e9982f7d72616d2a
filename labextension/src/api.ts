/** Calls to the session's Datalab endpoints (jupyter_s3_ext), with the server's own authentication. */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export async function getJSON<T>(path: string): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'datalab', path);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    throw new Error(`HTTP ${response.status} from ${path}`);
  }
  return (await response.json()) as T;
}

export interface Snippet {
  id: string;
  label: string;
  language: 'python' | 'r' | 'shell';
  code: string;
}

export interface S3Location {
  name: string;
  kind: string;
  kind_label: string;
  bucket: string;
  prefix: string;
  url: string;
  writable: boolean;
  browser_path: string | null;
  snippets: Snippet[];
  project?: string | null;
  vault_path?: string | null;
}

export interface ConnectionDetails {
  s3: { endpoint: string | null; region: string; folder: string | null; locations: S3Location[] } | null;
  postgres: {
    variables: { name: string; value: string | null; secret?: boolean }[];
    snippets: Snippet[];
  } | null;
  vault: {
    addr: string;
    mount: string;
    top_dir: string | null;
    path: string;
    snippets: Snippet[];
    projects?: { name: string; path: string }[];
  } | null;
  environment: { name: string; value: string }[];
  unavailable_projects?: { name: string; reason: string }[];
}
