/**
 * Uploads into the S3 folder go as the file's raw bytes, in one XMLHttpRequest PUT to the session's
 * `datalab/upload/<api path>` (the server streams it into an S3 multipart upload), instead of JupyterLab's
 * 1 MiB base64 chunks through the contents API. XHR, not fetch: fetch reports no upload progress.
 * When the server has direct uploads on, a file of at least one part goes straight to S3 instead (./direct),
 * streamed as above if the server or S3 cannot take it that way.
 *
 * Hooked at FileBrowserModel.upload (the upload button and drag-and-drop both call it) of every file
 * browser. Elsewhere, on a server without the endpoint (404), or when the PUT is refused before anything is
 * stored (404/405/413/501, e.g. a proxy's body-size limit), JupyterLab's own upload does it.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IChangedArgs, URLExt } from '@jupyterlab/coreutils';
import { shouldOverwrite } from '@jupyterlab/docmanager';
import {
  FileBrowser,
  FileBrowserModel,
  IDefaultFileBrowser,
  IFileBrowserFactory,
  IUploadModel
} from '@jupyterlab/filebrowser';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { directUpload } from './direct';
import {
  CHUNK_SIZE,
  DirectFailure,
  errorMessage,
  goesDirect,
  insideFolder,
  joinPath,
  normalizePath,
  progressOf,
  shouldFallBack,
  uploadSettingsOf,
  UploadSettings,
  uploadUrl,
  xsrfToken
} from './uploadcore';

type Upload = (file: File, path?: string) => Promise<Contents.IModel>;
type Emitter = { emit(args: IChangedArgs<IUploadModel | null>): void };
interface Answer {
  status: number;
  statusText: string;
  body: string;
}

/** What the server does with uploads when it streams none (404, or no answer). */
const NO_S3: UploadSettings = { folder: null, partSize: null };

/**
 * The S3 folder's API path and the direct uploads' part size, asked once: no folder when the server streams
 * no uploads (404). An answer that says neither (server busy, network) is asked again at the next upload,
 * JupyterLab's upload doing this one.
 */
function settingsLookup(settings: ServerConnection.ISettings): () => Promise<UploadSettings> {
  let known: Promise<UploadSettings> | null = null;
  const ask = async (): Promise<UploadSettings> => {
    const response = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'datalab/upload'),
      {},
      settings
    );
    if (response.status === 404) {
      return NO_S3;
    }
    if (!response.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    return uploadSettingsOf(await response.json());
  };
  return () => {
    if (!known) {
      known = ask().catch(error => {
        console.warn('Datalab: could not ask whether S3 uploads are streamed; using JupyterLab’s', error);
        known = null;
        return NO_S3;
      });
    }
    return known;
  };
}

/** One PUT of `file` as the request body; resolves with any HTTP answer, status 0 if the connection failed. */
function put(
  url: string,
  file: File,
  settings: ServerConnection.ISettings,
  onProgress: (loaded: number, total: number) => void
): Promise<Answer> {
  return new Promise(resolve => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    if (settings.token) {
      xhr.setRequestHeader('Authorization', `token ${settings.token}`);
    }
    let cookie = '';
    try {
      cookie = document.cookie;
    } catch {
      // a sandboxed page has no cookies: the token is the authentication
    }
    const xsrf = xsrfToken(cookie);
    if (xsrf !== undefined) {
      xhr.setRequestHeader('X-XSRFToken', xsrf);
    }
    xhr.upload.onprogress = event => {
      if (event.lengthComputable) {
        onProgress(event.loaded, event.total);
      }
    };
    xhr.onload = () => resolve({ status: xhr.status, statusText: xhr.statusText, body: xhr.responseText });
    xhr.onerror = xhr.onabort = xhr.ontimeout = () => resolve({ status: 0, statusText: '', body: '' });
    xhr.send(file);
  });
}

/** The model's uploadChanged events, as JupyterLab emits them for a chunked upload (the status bar shows them). */
class Progress {
  private current: IUploadModel;

  constructor(
    private model: FileBrowserModel,
    path: string,
    private shown: boolean
  ) {
    this.current = { path, progress: 0 };
    this.emit({ name: 'start', newValue: this.current, oldValue: null });
  }

  update(loaded: number, total: number): void {
    const progress = progressOf(loaded, total);
    if (progress - this.current.progress < 0.01) {
      return;
    }
    const next = { path: this.current.path, progress };
    this.emit({ name: 'update', newValue: next, oldValue: this.current });
    this.current = next;
  }

  failed(): void {
    this.emit({ name: 'failure', newValue: this.current, oldValue: null });
  }

  finished(): void {
    this.emit({ name: 'finish', newValue: null, oldValue: this.current });
  }

  private emit(args: IChangedArgs<IUploadModel | null>): void {
    if (this.shown) {
      (this.model.uploadChanged as unknown as Emitter).emit(args);
    }
  }
}

class S3Uploads {
  constructor(
    private settings: () => Promise<UploadSettings>,
    private models: () => FileBrowserModel[],
    private translator: ITranslator
  ) {}

  /** Replaces `model.upload` (once per model) with one that streams uploads into the S3 folder. */
  hook(model: FileBrowserModel): void {
    if ((model.upload as unknown as { datalab?: boolean }).datalab || model.driveName) {
      return;
    }
    const jupyterUpload: Upload = model.upload.bind(model);
    const upload: Upload = async (file, path) => {
      const dir = normalizePath(path ?? model.path);
      const { folder, partSize } = await this.settings();
      if (!insideFolder(dir, folder)) {
        return jupyterUpload(file, path);
      }
      return this.upload(model, file, dir, partSize, () => this.chunked(model, jupyterUpload, file, path));
    };
    (upload as unknown as { datalab: boolean }).datalab = true;
    model.upload = upload;
  }

  /** JupyterLab's checks (uploads allowed, "overwrite?"), then direct or streamed, then the listings. */
  private async upload(
    model: FileBrowserModel,
    file: File,
    dir: string,
    partSize: number | null,
    fallback: () => Promise<Contents.IModel>
  ): Promise<Contents.IModel> {
    const trans = this.translator.load('jupyterlab');
    if (!model.allowFileUploads) {
      throw new Error(trans.__('File uploads are disabled'));
    }
    await checkDisposed(model);
    if ((await exists(model, dir, file.name)) && !(await shouldOverwrite(file.name, this.translator))) {
      throw 'File not uploaded';
    }
    await checkDisposed(model);
    const path = joinPath(dir, file.name);
    if (goesDirect(file.size, partSize)) {
      const done = await this.direct(model, file, path);
      if (done !== null) {
        this.refresh(dir);
        return parsedModel(done) ?? model.manager.services.contents.get(path, { content: false });
      }
    }
    return this.stream(model, file, dir, path, fallback);
  }

  /** The direct upload with progress: the completion's answer, or null when the file is to be streamed. */
  private async direct(model: FileBrowserModel, file: File, path: string): Promise<string | null> {
    const progress = new Progress(model, path, file.size > CHUNK_SIZE);
    try {
      const answer = await directUpload(file, path, model.manager.services.serverSettings, (loaded, total) =>
        progress.update(loaded, total)
      );
      progress.finished();
      return answer;
    } catch (error) {
      progress.failed();
      if (!(error instanceof DirectFailure)) {
        throw error;
      }
      if (!error.fallBack) {
        throw new Error(error.message);
      }
      console.warn(
        `Datalab: the direct upload of ${path} to S3 did not go (${error.message}); ` +
          'streaming it through the server instead.'
      );
      return null;
    }
  }

  /** The streamed PUT with progress; refused before anything is stored, JupyterLab's chunked upload. */
  private async stream(
    model: FileBrowserModel,
    file: File,
    dir: string,
    path: string,
    fallback: () => Promise<Contents.IModel>
  ): Promise<Contents.IModel> {
    const settings = model.manager.services.serverSettings;
    const progress = new Progress(model, path, file.size > CHUNK_SIZE);
    const answer = await put(uploadUrl(settings.baseUrl, path), file, settings, (loaded, total) =>
      progress.update(loaded, total)
    );
    if (answer.status >= 200 && answer.status < 300) {
      progress.finished();
      this.refresh(dir);
      return parsedModel(answer.body) ?? model.manager.services.contents.get(path, { content: false });
    }
    progress.failed();
    const message = errorMessage(answer.status, answer.statusText, answer.body);
    if (shouldFallBack(answer.status)) {
      console.warn(
        `Datalab: the streamed upload of ${path} was refused (HTTP ${answer.status}: ${message}); ` +
          'uploading it with JupyterLab’s chunked contents API instead.'
      );
      return fallback();
    }
    throw new Error(message);
  }

  /** JupyterLab's own upload of the file, without asking again what the user already answered. */
  private chunked(model: FileBrowserModel, jupyterUpload: Upload, file: File, path?: string) {
    const inner = (model as unknown as { _upload?: unknown })._upload;
    if (typeof inner === 'function') {
      return inner.call(model, file, file.size > CHUNK_SIZE, path) as Promise<Contents.IModel>;
    }
    return jupyterUpload(file, path);
  }

  /** Every file browser showing `dir` lists it again (JupyterLab's own saves do this through fileChanged). */
  private refresh(dir: string): void {
    for (const model of this.models()) {
      if (!model.isDisposed && normalizePath(model.path) === dir) {
        void model.refresh();
      }
    }
  }
}

async function checkDisposed(model: FileBrowserModel): Promise<void> {
  if (model.isDisposed) {
    throw 'Filemanager disposed. File upload canceled';
  }
}

/** Whether `dir` already holds `name`: the browser's own listing when it shows `dir`, as JupyterLab checks. */
async function exists(model: FileBrowserModel, dir: string, name: string): Promise<boolean> {
  if (normalizePath(model.path) === dir) {
    await model.refresh();
    for (const item of model.items()) {
      if (item.name === name) {
        return true;
      }
    }
    return false;
  }
  try {
    await model.manager.services.contents.get(joinPath(dir, name), { content: false });
    return true;
  } catch (error) {
    if (error instanceof ServerConnection.ResponseError && error.response.status === 404) {
      return false;
    }
    throw error;
  }
}

function parsedModel(body: string): Contents.IModel | null {
  try {
    const model = JSON.parse(body) as Contents.IModel;
    return model && typeof model.path === 'string' ? model : null;
  } catch {
    return null;
  }
}

export const uploadPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-datalab:s3-upload',
  description:
    'File browser uploads into the S3 folder go straight to S3 in parts, or stream the file in one request to the session server.',
  autoStart: true,
  requires: [IFileBrowserFactory],
  optional: [IDefaultFileBrowser, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    factory: IFileBrowserFactory,
    defaultBrowser: FileBrowser | null,
    translator: ITranslator | null
  ) => {
    const models = () => {
      const all: FileBrowserModel[] = defaultBrowser ? [defaultBrowser.model] : [];
      factory.tracker.forEach(browser => {
        if (!all.includes(browser.model)) {
          all.push(browser.model);
        }
      });
      return all;
    };
    const uploads = new S3Uploads(
      settingsLookup(app.serviceManager.serverSettings),
      models,
      translator ?? nullTranslator
    );
    models().forEach(model => uploads.hook(model));
    factory.tracker.widgetAdded.connect((_, browser) => uploads.hook(browser.model));
  }
};
