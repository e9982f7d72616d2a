"""The Datalab session extension: wires fresh S3 and Vault credentials into every kernel and terminal.

Enabled by default in every single-user server (jupyter-config/jupyter_server_config.d/jupyter_s3_ext.json).
At load it reads the credentials the hub gave the session, writes the files tools read (AWS config with
a `credential_process`, the Vault token file), sets the non-secret environment kernels and terminals
inherit, and starts the background refresher. Secrets never go into the environment.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import sys
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, List, Unicode, default, validate

from . import access_log
from .connection.handlers import ConnectionHandler
from .credentials import store
from .credentials.handlers import CredentialsStatusHandler
from .credentials.hub import CREDENTIALS_PATH, HubEndpoint, endpoint_url
from .credentials.model import PARTS, expected_parts, session_env
from .credentials.refresher import CredentialsRefresher, RefresherSettings
from .notices.clone import STATUS_DIR_ENV
from .notices.handlers import NoticesHandler
from .notices.home import read_failure, sync_home_notice
from .notices.projects import UNAVAILABLE_ENV, as_notice, unavailable_projects
from .session_env import DEFAULT_REGION

CONTENTS_MANAGER_CLASS = "jupyter_s3_ext.contents.S3MountContentsManager"

# Static secrets in the environment win over credential_process and the token file in every SDK, and
# then go stale: the extension removes them when it manages that kind of credential.
STATIC_SECRET_ENV = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
    "vault": ("VAULT_TOKEN",),
}


def credential_process_command() -> str:
    """The command line AWS SDKs run for credentials: our console script, by absolute path."""
    script = Path(sys.executable).parent / "datalab-credentials"
    if script.exists():
        return shlex.join([str(script), "aws"])
    found = shutil.which("datalab-credentials")
    if found:
        return shlex.join([found, "aws"])
    return shlex.join([sys.executable, "-m", "jupyter_s3_ext.credentials", "aws"])


class DatalabExtensionApp(ExtensionApp):
    """Fresh S3 and Vault credentials in the session (and, from the contents engineer, S3 in the file browser)."""

    name = "jupyter_s3_ext"

    credentials_file = Unicode(
        help="The credentials JSON the hub gave the session at spawn (default: $DATALAB_CREDENTIALS_FILE)."
    ).tag(config=True)

    @default("credentials_file")
    def _default_credentials_file(self):
        return os.environ.get(store.INITIAL_ENV, "")

    hub_api_url = Unicode(
        help="The hub's API URL, for renewing credentials (default: $JUPYTERHUB_API_URL; empty: no renewal)."
    ).tag(config=True)

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL", "")

    hub_api_token = Unicode(
        help="The session's JupyterHub API token used to renew credentials (default: $JUPYTERHUB_API_TOKEN)."
    ).tag(config=True)

    @default("hub_api_token")
    def _default_hub_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN") or os.environ.get("JPY_API_TOKEN", "")

    credentials_endpoint_path = Unicode(
        CREDENTIALS_PATH, help="Path of the hub's renewal endpoint, relative to hub_api_url."
    ).tag(config=True)

    refresh_enabled = Bool(
        True, help="Renew credentials in the background before they expire (off: only the spawn-time ones)."
    ).tag(config=True)

    refresh_fraction = Float(
        0.5, help="Share of a credential's lifetime after which it is renewed (0.1 to 0.9)."
    ).tag(config=True)

    @validate("refresh_fraction")
    def _check_fraction(self, proposal):
        value = proposal["value"]
        if not 0.1 <= value <= 0.9:
            raise ValueError(f"refresh_fraction must be between 0.1 and 0.9, got {value}")
        return value

    request_timeout = Float(10.0, help="Seconds before a call to the hub or to Vault is abandoned.").tag(
        config=True
    )
    retry_initial_delay = Float(2.0, help="Seconds before the first retry after a failed renewal.").tag(
        config=True
    )
    retry_max_delay = Float(60.0, help="Longest wait between retries (the delay doubles up to it).").tag(
        config=True
    )

    expected_credentials = List(
        Unicode(),
        help="Credentials the hub serves this session ('s3', 'vault'). One the session lacks (the hub could "
        "not mint it at spawn: Vault or S3's STS down) is asked for again with the retry backoff and shown by "
        "the status endpoint. Default: from the hub's variables (DATALAB_S3_BUCKET or AWS_ENDPOINT_URL: s3; "
        "VAULT_ADDR: vault).",
    ).tag(config=True)

    @default("expected_credentials")
    def _default_expected(self):
        return expected_parts(os.environ)

    @validate("expected_credentials")
    def _check_expected(self, proposal):
        unknown = sorted(set(proposal["value"]) - set(PARTS))
        if unknown:
            raise ValueError(f"expected_credentials: unknown {unknown}, use 's3' and/or 'vault'")
        return proposal["value"]

    runtime_dir = Unicode(
        help="Private (0700) directory for the credential cache and the AWS config file "
        "(default: $XDG_RUNTIME_DIR/datalab-credentials or Jupyter's runtime dir)."
    ).tag(config=True)

    @default("runtime_dir")
    def _default_runtime_dir(self):
        return str(store.default_runtime_dir())

    aws_config_file = Unicode(
        help="AWS shared config file written with a credential_process profile and exported as "
        "AWS_CONFIG_FILE (default: <runtime_dir>/aws-config; '~/.aws/config' also works; empty: none)."
    ).tag(config=True)

    @default("aws_config_file")
    def _default_aws_config_file(self):
        return str(Path(self.runtime_dir) / "aws-config")

    vault_token_file = Unicode(
        "~/.vault-token",
        help="File holding the current Vault token, read by hvac.Client() and the vault/bao CLI (empty: none).",
    ).tag(config=True)

    default_region = Unicode(
        DEFAULT_REGION, help="AWS region used when the credentials do not name one."
    ).tag(config=True)

    set_environment = Bool(
        True,
        help="Set the non-secret session variables (AWS_CONFIG_FILE, AWS_ENDPOINT_URL, VAULT_ADDR...) in the "
        "server process, which kernels and terminals inherit, and remove static secret variables.",
    ).tag(config=True)

    vault_env_to_kernels = Bool(
        False,
        help="Export the keys stored at <VAULT_TOP_DIR>/<vault_env_path> into new kernels' environment.",
    ).tag(config=True)

    vault_env_path = Unicode(
        "env", help="Path under the user's Vault top dir read by vault_env_to_kernels."
    ).tag(config=True)

    mount_s3_contents = Bool(
        True,
        help="Make the server use the S3 mount contents manager (the `s3/` folder beside the home) unless "
        "ServerApp.contents_manager_class is configured explicitly.",
    ).tag(config=True)

    status_dir = Unicode(
        help="Directory where the backend records how the session's start went, e.g. a failed git clone "
        "(default: $DATALAB_STATUS_DIR; empty: no notices).",
    ).tag(config=True)

    @default("status_dir")
    def _default_status_dir(self):
        return os.environ.get(STATUS_DIR_ENV, "")

    home_notices = Bool(
        True,
        help="Also write a notice file at the top of the home (GIT-CLONE-FAILED.txt) for a failed clone, "
        "for interfaces other than JupyterLab; removed again at the next start whose clone works.",
    ).tag(config=True)

    refresher: CredentialsRefresher | None = None

    def _link_jupyter_server_extension(self, serverapp) -> None:
        # Linking runs before the server builds its contents manager, and jupyter_server_config.d/*.json
        # only carries `jpserver_extensions`: choosing the contents manager here is how the extension
        # enables S3 in the file browser by itself, wherever it is installed.
        super()._link_jupyter_server_extension(serverapp)
        explicit = "contents_manager_class" in serverapp.config.get("ServerApp", {})
        if self.mount_s3_contents and not explicit:
            serverapp.contents_manager_class = CONTENTS_MANAGER_CLASS

    def initialize_settings(self) -> None:
        access_log.install()  # no query string of this session in its log (access_log.py)
        runtime = store.private_dir(Path(self.runtime_dir))
        endpoint = None
        if self.hub_api_url and self.hub_api_token:
            endpoint = HubEndpoint(
                endpoint_url(self.hub_api_url, self.credentials_endpoint_path), self.hub_api_token
            )
        settings = RefresherSettings(
            cache_path=runtime / store.CACHE_NAME,
            initial_path=Path(self.credentials_file) if self.credentials_file else None,
            endpoint=endpoint,
            refresh_fraction=self.refresh_fraction,
            request_timeout=self.request_timeout,
            retry_initial_delay=self.retry_initial_delay,
            retry_max_delay=self.retry_max_delay,
            vault_token_file=Path(self.vault_token_file).expanduser() if self.vault_token_file else None,
            aws_config_file=Path(self.aws_config_file).expanduser() if self.aws_config_file else None,
            aws_command=credential_process_command(),
            default_region=self.default_region,
            vault_env_path=self.vault_env_path if self.vault_env_to_kernels else None,
            expected=tuple(self.expected_credentials),
        )
        refresher = CredentialsRefresher(settings, log=self.log)
        doc = refresher.load()
        if doc is None and endpoint is None:
            self.log.info("jupyter_s3_ext: no session credentials (no %s, no hub to ask)", store.INITIAL_ENV)
        else:
            self.refresher = refresher
            # Also on exits that skip the extensions' shutdown hooks (SIGINT, how a local spawner stops us).
            atexit.register(refresher.remove_files)
        if self.set_environment and self.refresher is not None:
            self._set_environment(settings)
        if self.refresher is not None and self.vault_env_to_kernels:
            self._export_vault_env_to_kernels()
        self.settings.update(
            {"datalab_credentials_refresher": self.refresher, "datalab_notices": self._session_notices()}
        )

    def _session_notices(self) -> list[dict]:
        """The notices of this session's start (a failed git clone, projects it goes without), and the home's
        notice file kept in step."""
        notices = [as_notice(p) for p in unavailable_projects(os.environ.get(UNAVAILABLE_ENV))]
        for notice in notices:
            self.log.warning("jupyter_s3_ext: %s", notice["message"])
        if not self.status_dir:
            return notices
        failure = read_failure(Path(self.status_dir))
        path = sync_home_notice(Path.home(), failure) if self.home_notices else None
        if failure is None:
            return notices
        self.log.warning("jupyter_s3_ext: the git clone of %s failed at start", failure.repository)
        return [failure.as_notice(self._root_relative(path)), *notices]

    def _root_relative(self, path: Path | None) -> str | None:
        """`path` as the contents API names it (None when it is outside the server's root)."""
        if path is None:
            return None
        root = Path(self.serverapp.root_dir).expanduser().resolve() if self.serverapp else None
        try:
            return path.resolve().relative_to(root).as_posix() if root else None
        except ValueError:
            return None

    def _set_environment(self, settings: RefresherSettings) -> None:
        env = {store.CACHE_ENV: str(settings.cache_path)}
        doc = self.refresher.document
        if doc is not None:
            env.update(session_env(doc, self.default_region))
        expected = settings.expected
        if settings.aws_config_file and (doc is None or doc.s3 is not None or "s3" in expected):
            env["AWS_CONFIG_FILE"] = str(settings.aws_config_file)  # written once S3 credentials exist
        for key, value in env.items():
            if key in (store.CACHE_ENV, "AWS_CONFIG_FILE"):
                os.environ[key] = value
            else:
                os.environ.setdefault(key, value)
        managed = [k for k in PARTS if doc is None or getattr(doc, k) is not None or k in expected]
        for kind in managed:
            for key in STATIC_SECRET_ENV[kind]:
                if os.environ.pop(key, None) is not None:
                    self.log.warning(
                        "jupyter_s3_ext: removed static %s from the environment (it would go stale)", key
                    )

    def _export_vault_env_to_kernels(self) -> None:
        """Add the Vault env secrets to new kernels' environment (sessions: what JupyterLab starts)."""
        session_manager = getattr(self.serverapp, "session_manager", None)
        if session_manager is None:
            return
        original = session_manager.get_kernel_env
        refresher = self.refresher

        def get_kernel_env(path, name=None):
            return {**refresher.kernel_env, **original(path, name)}

        session_manager.get_kernel_env = get_kernel_env

    def initialize_handlers(self) -> None:
        self.handlers.append((r"/datalab/credentials/status", CredentialsStatusHandler))
        contents = self._s3_contents()
        if contents is not None and contents.s3 is not None:  # big S3 folders and files, streamed
            from .contents.handlers import S3ContentsHandler, contents_route
            from .contents.streamed_upload import upload_routes

            self.handlers.append((contents_route(contents.s3.folder), S3ContentsHandler))
            self.handlers.extend(upload_routes(contents.s3.folder))  # raw uploads from our labextension
        self.handlers.append((r"/datalab/connection", ConnectionHandler))
        self.handlers.append((r"/datalab/notices", NoticesHandler))

    def _s3_contents(self):
        """The server's contents manager when it is ours (S3 folder), else None."""
        manager = getattr(self.serverapp, "contents_manager", None)
        return manager if hasattr(manager, "start_background") else None

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if self.refresher is not None and self.refresh_enabled:
            self.refresher.start()
        if (contents := self._s3_contents()) is not None:
            contents.start_background()  # aborts the uploads a killed earlier run left open

    async def stop_extension(self) -> None:
        if (contents := self._s3_contents()) is not None:
            await contents.shutdown()  # aborts the uploads in flight: nothing half-made stays in S3
        if self.refresher is not None:
            await self.refresher.stop()
