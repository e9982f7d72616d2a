/**
 * The pure parts of an upload into the S3 folder (no DOM, no JupyterLab), unit-tested with node:test:
 * which paths go to the server's `PUT <base_url>datalab/upload/<api path>`, its URL, the XSRF token it needs,
 * what a refusal means (fall back to JupyterLab's chunked upload, or fail with the server's words); and for
 * a direct upload (parts sent straight to S3 on URLs the server presigns): which files go direct, the parts'
 * byte ranges and checksums, the progress summed over parts, S3's answers, and when to stream it instead.
 */

import { buf as crc32cOf } from 'crc-32/crc32c';

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

/** `{baseUrl}{route}/{api path}`, each segment URL-encoded (as URLExt.encodeParts does). */
function routeUrl(baseUrl: string, route: string, apiPath: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const parts = normalizePath(apiPath).split('/').map(encodeURIComponent);
  return `${base}${route}/${parts.join('/')}`;
}

/** `{baseUrl}datalab/upload/{api path}`: the streamed upload's URL. */
export function uploadUrl(baseUrl: string, apiPath: string): string {
  return routeUrl(baseUrl, 'datalab/upload', apiPath);
}

/** `{baseUrl}datalab/direct-upload/{api path}`: where a direct upload is started, signed, completed. */
export function directUploadUrl(baseUrl: string, apiPath: string): string {
  return routeUrl(baseUrl, 'datalab/direct-upload', apiPath);
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

/** Parts of a direct upload sent to S3 at once. */
export const PARTS_IN_FLIGHT = 3;

/** What `GET datalab/upload` says: the S3 folder, and the direct uploads' part size (null: off). */
export interface UploadSettings {
  folder: string | null;
  partSize: number | null;
}

/** The server's `{"folder": "s3", "direct": {"part_size": P} | null}`, anything malformed read as "off". */
export function uploadSettingsOf(answer: unknown): UploadSettings {
  const { folder, direct } = (answer && typeof answer === 'object' ? answer : {}) as {
    folder?: unknown;
    direct?: { part_size?: unknown } | null;
  };
  const root = typeof folder === 'string' ? normalizePath(folder) : '';
  const size = direct && typeof direct === 'object' ? direct.part_size : undefined;
  const partSize = typeof size === 'number' && Number.isSafeInteger(size) && size > 0 ? size : null;
  return { folder: root || null, partSize };
}

/** Whether a file of `size` bytes goes straight to S3: direct uploads on, and at least one part's worth. */
export function goesDirect(size: number, partSize: number | null): boolean {
  return partSize !== null && size >= partSize;
}

export type Checksum = 'CRC32C' | 'SHA256';

/** A started direct upload, as the server's 201 says. */
export interface Started {
  id: string;
  partSize: number;
  parts: number;
  /** null: S3 checks each part's signed length only (the server signs no checksum). */
  checksum: Checksum | null;
}

/** The start's answer, checked against the file's size (its parts must cover it exactly); null if not one. */
export function startedOf(body: string, size: number): Started | null {
  let parsed: { id?: unknown; part_size?: unknown; parts?: unknown; checksum?: unknown };
  try {
    parsed = JSON.parse(body) ?? {};
  } catch {
    return null;
  }
  const { id, part_size: partSize, parts, checksum } = parsed;
  if (
    typeof id !== 'string' ||
    !id ||
    typeof partSize !== 'number' ||
    !Number.isSafeInteger(partSize) ||
    partSize <= 0 ||
    parts !== Math.ceil(size / partSize) ||
    (checksum !== 'CRC32C' && checksum !== 'SHA256' && checksum !== null)
  ) {
    return null;
  }
  return { id, partSize, parts, checksum };
}

/** The sign request's answer: the part's presigned URL and the headers to send with it. */
export function signedPartOf(body: string): { url: string; headers: Record<string, string> } {
  let parsed: { url?: unknown; headers?: unknown } | null = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    // said below
  }
  const { url, headers } = parsed ?? {};
  const fields = headers && typeof headers === 'object' ? Object.entries(headers) : [];
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || fields.some(([, v]) => typeof v !== 'string')) {
    throw new DirectFailure('The server signed a part with an answer this page cannot use.', false);
  }
  return { url, headers: Object.fromEntries(fields) as Record<string, string> };
}

/** Bytes [start, end) of part `part` (1-based) of a `size`-byte file cut in `partSize` parts. */
export function partRange(part: number, size: number, partSize: number): [number, number] {
  return [(part - 1) * partSize, Math.min(part * partSize, size)];
}

/** The bytes sent so far over all parts of one upload (each part's XHR reports its own). */
export class PartProgress {
  private sentOf = new Map<number, number>();
  private sum = 0;

  /** Part `part` has sent `loaded` bytes; returns the total sent over all parts. */
  sent(part: number, loaded: number): number {
    this.sum += loaded - (this.sentOf.get(part) ?? 0);
    this.sentOf.set(part, loaded);
    return this.sum;
  }
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary);
}

/** The part's checksum as S3 wants it in `x-amz-checksum-*`: base64 of the big-endian CRC32C or SHA-256. */
export async function checksumOf(
  algorithm: Checksum,
  bytes: Uint8Array<ArrayBuffer>,
  subtle: SubtleCrypto | null = globalThis.crypto?.subtle ?? null
): Promise<string> {
  if (algorithm === 'CRC32C') {
    const crc = crc32cOf(bytes) >>> 0;
    return base64(new Uint8Array([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255]));
  }
  if (!subtle) {
    throw new DirectFailure('SHA-256 needs a secure context (https) in this browser', true);
  }
  return base64(new Uint8Array(await subtle.digest('SHA-256', bytes)));
}

/**
 * A direct upload that did not finish: `fallBack` when streaming the file through the server may still
 * work (direct uploads unknown to the server, S3 unreachable from this browser); else `message` is shown.
 */
export class DirectFailure extends Error {
  constructor(
    message: string,
    readonly fallBack: boolean
  ) {
    super(message);
    this.name = 'DirectFailure';
  }
}

/** Whether a refused start leaves the upload to the streamed PUT: the server has no direct uploads. */
export function startFallsBack(status: number): boolean {
  return status === 404 || status === 405 || status === 501;
}

/**
 * Whether a part's failed PUT leaves the upload to the streamed PUT: no answer (status 0: S3 unreachable
 * from this browser, or CORS refusing it) or an answer without the ETag (CORS not exposing it) — both
 * only while no part has gone through, since after that S3 was reachable and the failure is the upload's.
 */
export function partFallsBack(status: number, etag: string | null, partsDone: number): boolean {
  const ok = status >= 200 && status < 300;
  return partsDone === 0 && (status === 0 || (ok && etag === null));
}

/** The `ETag` response header as S3 gave it (quotes kept: S3 takes them back as they are); null if none. */
export function etagOf(header: string | null): string | null {
  const value = (header ?? '').trim();
  return value ? value : null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, name: string) => {
    if (name[0] !== '#') {
      return ENTITIES[name.toLowerCase()];
    }
    const code = name[1].toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
  });
}

/**
 * What to tell the user when S3 refused part `part`: its XML error's `<Message>` (else `<Code>`, else the
 * status), bounded, on one line, any URL left out (a presigned one carries credentials).
 */
export function s3Message(part: number, status: number, body: string, limit: number = MESSAGE_LIMIT): string {
  if (status === 0) {
    return 'The connection to S3 was lost during the upload.';
  }
  const element = (name: string) => {
    const found = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(body);
    return found ? unescapeXml(found[1]).trim() : '';
  };
  const said = (element('Message') || element('Code') || `HTTP ${status}`).replace(
    /\b[a-z][a-z0-9+.-]*:\/\/\S*/gi,
    '…'
  );
  return bounded(`S3 refused part ${part} of the upload: ${said}`, limit);
}

/**
 * Runs `run(1)` … `run(count)` with at most `limit` running at once, in order; resolves with their results.
 * At the first failure no further one starts, the running ones are told through the signal, and once all
 * started have settled it rejects with that first failure (so nothing is still sending when it is cleaned up).
 */
export async function inFlight<T>(
  count: number,
  limit: number,
  run: (index: number, signal: AbortSignal) => Promise<T>
): Promise<T[]> {
  const results: T[] = new Array(count);
  const stop = new AbortController();
  let next = 1;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (!failure && next <= count) {
      const index = next++;
      try {
        results[index - 1] = await run(index, stop.signal);
      } catch (error) {
        if (!failure) {
          failure = { error };
          stop.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (failure) {
    throw (failure as { error: unknown }).error;
  }
  return results;
}
