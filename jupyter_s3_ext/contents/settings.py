"""The S3 folder's settings and the S3 side built from them, started and stopped with the server.

Each setting is a trait of S3MountContentsManager (`c.S3MountContentsManager.part_size_mb = 16`),
defaulting to what the hub set in the session's environment (session_env.py). From them, `build_s3_side`
makes the mount table, the S3 client and the upload machinery, or nothing when the session has no
S3 location or no credentials (the folder is then absent). The extension (app.py) calls
`start_background` once the server runs and `shutdown` at a clean stop.
"""

from __future__ import annotations

import json
import os

from traitlets import Any, Dict, Enum, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..credentials.store import INITIAL_ENV
from ..session_env import BROWSER_ENDPOINT_ENV, data_path, endpoint_of, per_server, region_of
from .client import S3Client
from .direct_upload import DirectUploads
from .journal import UploadJournal
from .mounts import build_table
from .multipart import CHECKSUMS, browser_checksum_for, checksum_for
from .s3side import S3Side
from .uploads import Uploads


def env_projects(text: str, log, var: str = "DATALAB_PROJECTS") -> list[dict]:
    """A JSON list the hub wrote (projects, datasets); a broken value shows none of them (and says so)."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        log.error("S3 contents: $%s is not JSON: none of its folders is shown", var)
        return []
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def project_mounts(projects: list[dict]) -> list[dict]:
    """Mount specs of the projects: the folder `project-<name>` on the project's bucket and prefix."""
    return [
        {"name": p.get("folder") or p.get("bucket"), "bucket": p.get("bucket"), "prefix": p.get("prefix", "")}
        for p in projects
    ]


class S3Settings(LoggingConfigurable):
    """The settings of S3MountContentsManager (its config section) and the S3 side they make."""

    s3_folder = Unicode(
        "s3", help="Name of the folder (at the root of the file browser) holding the S3 locations."
    ).tag(config=True)
    endpoint_url = Unicode(help="S3 endpoint URL. Default: $AWS_ENDPOINT_URL, else $AWS_S3_ENDPOINT.").tag(
        config=True
    )
    region = Unicode(help="S3 region. Default: $AWS_DEFAULT_REGION, else us-east-1.").tag(config=True)
    access_key_id = Unicode("", help="Static S3 access key (when there are no session credentials).").tag(
        config=True
    )
    secret_access_key = Unicode("", help="Static S3 secret key, used with access_key_id.").tag(config=True)
    credentials = Any(
        None,
        allow_none=True,
        help="A callable returning (aio)botocore credentials, or None. Overrides the static keys. Default: the "
        "session's self-refreshing credentials when $DATALAB_CREDENTIALS_FILE is set, else the static keys.",
    ).tag(config=True)
    own_bucket = Unicode(help="The user's own bucket. Default: $DATALAB_S3_BUCKET.").tag(config=True)
    own_prefix = Unicode(
        help="The user's prefix in own_bucket ('' = whole bucket). Default: $DATALAB_S3_PREFIX."
    ).tag(config=True)
    own_name = Unicode("", help="Folder name of the user's own location (default: the bucket name).").tag(
        config=True
    )
    group_buckets = List(
        Unicode(), help="Buckets of the user's groups, each shown as a folder named after it."
    ).tag(config=True)
    projects = List(
        Dict(),
        help="The user's projects: [{folder, bucket, prefix}], each shown as a folder. Default: "
        "$DATALAB_PROJECTS (JSON, written by the hub at spawn).",
    ).tag(config=True)
    datasets = List(
        Dict(),
        help="Datasets declared by the administrator: [{name, bucket, prefix, read_only}] (read-only ones "
        "are shown writable=false and every write to them is refused with 403). Default: $DATALAB_DATASETS "
        "(JSON, the event datasets the hub gives the session).",
    ).tag(config=True)
    mounts = List(Dict(), help="Other S3 locations: [{name, bucket, prefix, writable}].").tag(config=True)
    max_open_mb = Float(
        100.0, help="Largest S3 file (MiB) that may be opened or downloaded through the server."
    ).tag(config=True)
    part_size_mb = Int(
        8,
        help="Multipart part size (MiB, at least 5) for uploads and home<->S3 moves: memory per upload stays "
        "at about (upload_parts_in_flight + 1) parts; larger parts mean fewer S3 requests.",
    ).tag(config=True)
    upload_parts_in_flight = Int(
        2, help="Parts of one upload sent to S3 at once while the next part fills (at least 1)."
    ).tag(config=True)
    upload_checksum = Enum(
        ["auto", *CHECKSUMS],
        "auto",
        help="The checksum S3 verifies on every uploaded part: SHA256 (stops tampering on the way) or CRC32C "
        "(catches corruption, 16x cheaper). auto: SHA256 when the endpoint is plain HTTP to another machine, "
        "CRC32C over HTTPS or the loopback, where tampering on the way is already impossible. Parts a browser "
        "sends straight to S3 (browser_endpoint_url) get, with auto, SHA256 over plain HTTP to another machine "
        "and no checksum otherwise (S3 checks their signed length; hashing in the browser is costly).",
    ).tag(config=True)
    upload_idle_timeout = Float(
        600.0,
        help="Seconds without a chunk after which an upload is aborted; an upload an earlier (killed) run "
        "of this server left open is aborted at start once idle that long.",
    ).tag(config=True)
    browser_endpoint_url = Unicode(
        help="The S3 endpoint as the user's browser reaches it (e.g. https://s3.example.org): uploads into the "
        "S3 folder then go from the browser straight to S3, on part URLs this server signs (direct_upload.py). "
        f"Default: ${BROWSER_ENDPOINT_ENV}; empty: off, uploads are streamed through this server.",
    ).tag(config=True)

    @default("browser_endpoint_url")
    def _default_browser_endpoint_url(self):
        return os.environ.get(BROWSER_ENDPOINT_ENV, "")

    upload_journal = Unicode(
        help="File listing the multipart uploads this server has open, so that the next start aborts those "
        "a killed run left. Default: <Jupyter data dir>/datalab/s3-uploads[-<server name>].json, in the home.",
    ).tag(config=True)

    @default("upload_journal")
    def _default_upload_journal(self):
        return data_path(per_server("s3-uploads") + ".json")

    s3_connect_timeout = Float(5.0, help="Seconds to connect to the S3 endpoint before answering 503.").tag(
        config=True
    )
    s3_max_attempts = Int(
        2, help="Attempts per S3 request (botocore standard retries) before giving up."
    ).tag(config=True)
    s3_read_timeout = Float(60.0, help="Seconds to wait for an S3 answer before answering 503.").tag(
        config=True
    )
    s3_checkpoints_dir = Unicode(
        help="Where checkpoints of S3 files are kept, keyed by bucket and key (never in the bucket, where "
        "every other tool would see them). Default: <Jupyter data dir>/datalab/s3-checkpoints, in the home."
    ).tag(config=True)

    @default("s3_checkpoints_dir")
    def _default_s3_checkpoints_dir(self):
        return data_path("s3-checkpoints")

    @default("endpoint_url")
    def _default_endpoint(self):
        return endpoint_of(os.environ)

    @default("region")
    def _default_region(self):
        return region_of(os.environ)

    @default("own_bucket")
    def _default_own_bucket(self):
        return os.environ.get("DATALAB_S3_BUCKET", "")

    @default("own_prefix")
    def _default_own_prefix(self):
        return os.environ.get("DATALAB_S3_PREFIX", "")

    @default("projects")
    def _default_projects(self):
        return env_projects(os.environ.get("DATALAB_PROJECTS", ""), self.log)

    @default("datasets")
    def _default_datasets(self):
        return env_projects(os.environ.get("DATALAB_DATASETS", ""), self.log, "DATALAB_DATASETS")

    def build_s3_side(self) -> S3Side | None:
        """The S3 side these settings describe; None (no `s3/` folder) without locations or credentials."""
        factory = self._credentials_factory()
        table, problems = build_table(
            own_bucket=self.own_bucket,
            own_prefix=self.own_prefix,
            own_name=self.own_name,
            group_buckets=[*self.group_buckets, *project_mounts(self.projects)],
            datasets=self.datasets,
            extra=self.mounts,
        )
        for problem in problems:
            self.log.error("S3 contents: %s", problem)
        if factory is None or not table:
            self.log.info(
                "S3 contents: no %s, the %s/ folder is not shown",
                "credentials" if table else "S3 location",
                self.s3_folder,
            )
            return None
        client = self._client(self.endpoint_url, factory)
        uploads = Uploads(
            self.part_size_mb * 2**20,
            self.upload_idle_timeout,
            UploadJournal(self.upload_journal or None),
            self.log,
            self.upload_parts_in_flight,
            self._checksum(self.endpoint_url),
        )
        direct = None
        if self.browser_endpoint_url:  # presigned on the browser's endpoint, in SigV4 (query-signed)
            presigner = self._client(self.browser_endpoint_url, factory, signature_version="s3v4")
            direct = DirectUploads(
                client, presigner, uploads, self._direct_checksum(self.browser_endpoint_url)
            )
        self.log.info("S3 contents: %s/ shows %s", self.s3_folder, ", ".join(m.name for m in table))
        return S3Side(
            folder=self.s3_folder.strip("/"),
            table=table,
            client=client,
            max_open_bytes=int(self.max_open_mb * 2**20),
            uploads=uploads,
            checkpoints_root=self.s3_checkpoints_dir,
            direct=direct,
        )

    def _client(self, endpoint_url: str, factory, **config) -> S3Client:
        return S3Client(
            endpoint_url=endpoint_url,
            region=self.region,
            credentials=factory,
            connect_timeout=self.s3_connect_timeout,
            max_attempts=self.s3_max_attempts,
            read_timeout=self.s3_read_timeout,
            **config,
        )

    def _checksum(self, endpoint_url: str) -> str:
        """The configured upload checksum; for auto, the one the way to `endpoint_url` calls for."""
        return checksum_for(endpoint_url) if self.upload_checksum == "auto" else self.upload_checksum

    def _direct_checksum(self, endpoint_url: str) -> str | None:
        """The checksum of parts the browser sends: the configured one; for auto, browser_checksum_for."""
        return browser_checksum_for(endpoint_url) if self.upload_checksum == "auto" else self.upload_checksum

    def _credentials_factory(self):
        if self.credentials is not None:
            return self.credentials
        if self.access_key_id and self.secret_access_key:
            from aiobotocore.credentials import AioCredentials

            creds = AioCredentials(self.access_key_id, self.secret_access_key, method="datalab-static")
            return lambda: creds
        if os.environ.get(INITIAL_ENV):
            from ..credentials import aio_refreshable_credentials

            return aio_refreshable_credentials
        return None
