/**
 * A direct upload: the file's parts go from the browser straight to S3, on part URLs the session server
 * presigns (`datalab/direct-upload/<api path>`: start, sign each part, complete, abort), so that the server
 * copies no byte. Up to PARTS_IN_FLIGHT parts at once, each checksummed when the server asks for one
 * (CRC32C or SHA-256; S3 checks it and the part's length), signed, then PUT with XHR (fetch reports no upload
 * progress) carrying only the headers the server returned: no cookie, no token (the URL is the authorisation).
 *
 * Throws a DirectFailure: with `fallBack` when the server has no direct uploads or S3 cannot be reached from
 * this browser (the caller streams the file through the server instead), else with the message to show.
 * A started upload that does not complete is aborted (DELETE) before that.
 */

import { ServerConnection } from '@jupyterlab/services';

import {
  checksumOf,
  directUploadUrl,
  DirectFailure,
  errorMessage,
  etagOf,
  inFlight,
  partFallsBack,
  partRange,
  PartProgress,
  PARTS_IN_FLIGHT,
  s3Message,
  signedPartOf,
  startFallsBack,
  Started,
  startedOf
} from './uploadcore';

/** Headers a page may not set on an XHR (the browser sets them itself, from the body and the URL). */
const BROWSER_SET = new Set(['content-length', 'host', 'connection']);

interface PartAnswer {
  status: number;
  etag: string | null;
  body: string;
}

/** One call to the server's direct-upload route, as JupyterLab's own calls go (token, XSRF). */
async function call(
  settings: ServerConnection.ISettings,
  url: string,
  method: string,
  body?: unknown
): Promise<{ status: number; statusText: string; body: string }> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method, body: body === undefined ? undefined : JSON.stringify(body) },
      settings
    );
  } catch {
    throw new DirectFailure('The connection to the server was lost during the upload.', false);
  }
  return { status: response.status, statusText: response.statusText, body: await response.text() };
}

/** PUTs `part` to the presigned `url` with only `headers`; status 0 when no answer came (or `signal` stopped it). */
function putPart(
  url: string,
  headers: Record<string, string>,
  part: Blob,
  signal: AbortSignal,
  onProgress: (loaded: number) => void
): Promise<PartAnswer> {
  return new Promise(resolve => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.withCredentials = false;
    for (const [name, value] of Object.entries(headers)) {
      if (!BROWSER_SET.has(name.toLowerCase())) {
        xhr.setRequestHeader(name, value);
      }
    }
    xhr.upload.onprogress = event => onProgress(event.loaded);
    xhr.onload = () =>
      resolve({ status: xhr.status, etag: etagOf(xhr.getResponseHeader('ETag')), body: xhr.responseText });
    xhr.onerror = xhr.onabort = xhr.ontimeout = () => resolve({ status: 0, etag: null, body: '' });
    signal.addEventListener('abort', () => xhr.abort());
    if (signal.aborted) {
      resolve({ status: 0, etag: null, body: '' });
      return;
    }
    xhr.send(part);
  });
}

/** Uploads `file` to the API path `path`; resolves with the server's answer to the completion (the model). */
export async function directUpload(
  file: File,
  path: string,
  settings: ServerConnection.ISettings,
  onProgress: (loaded: number, total: number) => void
): Promise<string> {
  const url = directUploadUrl(settings.baseUrl, path);
  const start = await call(settings, url, 'POST', { size: file.size });
  if (start.status !== 201) {
    const message = errorMessage(start.status, start.statusText, start.body);
    throw new DirectFailure(message, startFallsBack(start.status));
  }
  const started = startedOf(start.body, file.size);
  if (!started) {
    throw new DirectFailure('The server started the upload with an answer this page cannot use.', false);
  }
  try {
    const etags = await sendParts(file, started, url, settings, onProgress);
    const done = await call(settings, url, 'PUT', { id: started.id, etags });
    if (done.status !== 201) {
      throw new DirectFailure(errorMessage(done.status, done.statusText, done.body), false);
    }
    return done.body;
  } catch (error) {
    await abort(settings, url, started.id);
    throw error;
  }
}

/** Every part read, checksummed, signed and sent; resolves with their ETags in order. */
async function sendParts(
  file: File,
  started: Started,
  url: string,
  settings: ServerConnection.ISettings,
  onProgress: (loaded: number, total: number) => void
): Promise<string[]> {
  const sent = new PartProgress();
  let partsDone = 0;
  return inFlight(started.parts, PARTS_IN_FLIGHT, async (part, signal) => {
    const [begin, end] = partRange(part, file.size, started.partSize);
    const blob = file.slice(begin, end);
    // Hashing reads the part into the page; without a checksum the browser streams it from the file.
    const checksum =
      started.checksum && (await checksumOf(started.checksum, new Uint8Array(await blob.arrayBuffer())));
    const signed = await call(settings, url, 'POST', { id: started.id, part, ...(checksum && { checksum }) });
    if (signed.status !== 200) {
      throw new DirectFailure(errorMessage(signed.status, signed.statusText, signed.body), false);
    }
    const { url: partUrl, headers } = signedPartOf(signed.body);
    const answer = await putPart(partUrl, headers, blob, signal, loaded =>
      onProgress(sent.sent(part, loaded), file.size)
    );
    const ok = answer.status >= 200 && answer.status < 300;
    if (ok && answer.etag !== null) {
      partsDone += 1;
      onProgress(sent.sent(part, end - begin), file.size);
      return answer.etag;
    }
    let message = s3Message(part, answer.status, answer.body);
    if (ok) {
      message = 'S3 does not show this page the ETag of a part (its CORS settings must expose ETag).';
    } else if (answer.status === 0 && partsDone === 0) {
      message = 'S3 could not be reached from this browser.';
    }
    throw new DirectFailure(message, partFallsBack(answer.status, answer.etag, partsDone));
  });
}

/** Aborts the started upload on the server (nothing of it stays in S3); a failure is only logged. */
async function abort(settings: ServerConnection.ISettings, url: string, id: string): Promise<void> {
  try {
    const answer = await call(settings, url + '?id=' + encodeURIComponent(id), 'DELETE');
    if (answer.status !== 204 && answer.status !== 404) {
      console.warn(`Datalab: aborting a direct upload answered HTTP ${answer.status}`);
    }
  } catch (error) {
    console.warn('Datalab: could not abort a direct upload', error);
  }
}
