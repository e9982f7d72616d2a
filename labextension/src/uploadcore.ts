/**
 * The pure parts of a streamed upload into the S3 folder (no DOM, no JupyterLab), unit-tested with node:test:
 * which paths go to the server's `PUT <base_url>datalab/upload/<api path>`, its URL, the XSRF token it needs,
 * what a refusal means (fall back to JupyterLab's chunked upload, or fail with the server's words).
 */

/** JupyterLab's chunk size: files above it show progress in the status bar (as JupyterLab's own do). */
export const CHUNK_SIZE = 1024 * 1024;

/** Longest error message shown to the user (a proxy's HTML page is not a message). */
export const MESSAGE_LIMIT = 300;

/**
 * Statuses that mean the endpoint did not take the file and stored nothing, so that JupyterLab's chunked
 * contents-API upload may still work: no such route (404, 405, 501) or a body-size limit on the way (413).
 */
const FALLBACK_STATUSES = new Set([404, 405, 413, 501]);

/** A contents API path without leading, trailing or doubled slashes ('' is the root). */
export function normalizePath(path: string): string {
  return path.split('/').filter(part => part.length > 0).join('/');
}

/** The API path of `name` in folder `dir` (both contents API paths). */
export function joinPath(dir: string, name: string): string {
  const base = normalizePath(dir);
  return base ? `${base}/${name}` : name;
}

/** Whether directory `dir` is inside the S3 folder `folder` (the folder itself included). */
export function insideFolder(dir: string, folder: string | null): boolean {
  const root = normalizePath(folder ?? '');
  if (!root) {
    return false;
  }
  const path = normalizePath(dir);
  return path === root || path.startsWith(root + '/');
}

/** `{baseUrl}datalab/upload/{api path}`, each segment URL-encoded (as URLExt.encodeParts does). */
export function uploadUrl(baseUrl: string, apiPath: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const parts = normalizePath(apiPath).split('/').map(encodeURIComponent);
  return `${base}datalab/upload/${parts.join('/')}`;
}

/**
 * The `_xsrf` cookie's value in `document.cookie`, the last one when there are several (as JupyterLab's
 * ServerConnection does: the server's cookie parser keeps the last).
 */
export function xsrfToken(cookie: string): string | undefined {
  let value: string | undefined;
  for (const part of cookie.split(';')) {
    const trimmed = part.trim();
    if (trimmed.startsWith('_xsrf=')) {
      value = trimmed.substring('_xsrf='.length);
    }
  }
  return value;
}

/** Whether a refused streamed upload should be done again with JupyterLab's chunked upload. */
export function shouldFallBack(status: number): boolean {
  return FALLBACK_STATUSES.has(status);
}

/** Upload progress as JupyterLab reports it: a fraction in [0, 1), 1 only when the server has answered. */
export function progressOf(loaded: number, total: number): number {
  if (!(total > 0) || !(loaded > 0)) {
    return 0;
  }
  return Math.min(loaded / total, 0.99);
}

function bounded(text: string, limit: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > limit ? flat.slice(0, limit - 1).trimEnd() + '…' : flat;
}

/**
 * What to tell the user when the server refused an upload: Jupyter's JSON error (`message`, else `reason`),
 * or the HTTP status when the body is not one (a proxy's page); `status` 0 is a connection lost mid-way.
 * Always bounded in length and on one line.
 */
export function errorMessage(
  status: number,
  statusText: string,
  body: string,
  limit: number = MESSAGE_LIMIT
): string {
  if (status === 0) {
    return 'The connection to the server was lost during the upload.';
  }
  let said = '';
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object') {
      const { message, reason } = parsed as { message?: unknown; reason?: unknown };
      const found = [message, reason].find(v => typeof v === 'string' && v.trim().length > 0);
      said = typeof found === 'string' ? found : '';
    }
  } catch {
    // not JSON: the status says it
  }
  const fallback = `HTTP ${status}${statusText ? ' ' + statusText : ''}`;
  return bounded(said || fallback, limit);
}
