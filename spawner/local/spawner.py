"""LocalCatalogSpawner: the catalog's launch plan run as local processes (the one-machine datalab).

Same catalog, form, validation, capacity and credentials seam as CatalogSpawner (spawner.runtime's
CatalogMixin).
- Run as root, each hub user's sessions run as their own system account (spawner.local.identity: created
  on first spawn, home 0700 under `<state_dir>/homes`); run as another user, the hub serves that user only
  and says so.
- Jupyter kinds start `jupyterhub-singleuser` (with the session extension); `vscode` opens code-server
  through jupyter-server-proxy; `rstudio` needs RStudio Server: a service whose programs are missing here
  is shown as a greyed card in the form, with the reason, and refused with that reason.
- `postgres`: a real PostgreSQL per session (spawner.local.postgres); `git_repository`: cloned into the
  home before the server starts; secret files (credentials.json) 0600 in the session's private directory.
- With `firewall_table` (set by `datalab up` as root), the account is added to the sessions' packet filter
  (spawner.local.firewall) before anything runs as it; code-server listens on a unix socket only its
  account can open, behind the Jupyter server's authenticated proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import html
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Dict, Float, Integer, Unicode, default

from ..catalog import Offer
from ..errors import SpawnException
from ..plan import CREDENTIALS_FILE, LaunchPlan, repository_folder
from ..runtime.mixin import CatalogMixin
from . import postgres as local_postgres
from .accounts import Account
from .answering import wait_answering
from .identity import IdentityMixin
from .layer import session_env as layer_env
from .limits import LimitsMixin
from .machine import MachineMixin
from .session import (
    CLONE_FAILED_FILE,
    STATUS_DIR_ENV,
    CommandFailed,
    clone,
    clone_failure_record,
    make_session_dir,
    make_tmp_dir,
    postgres_bin_dir,
    remove_server_files,
    restore_vault_token,
    vault_token_in,
    write_user_file,
)
from .start_queue import StartQueue, waiting_message

STACK_ENV = "DATALAB_STACK"  # the one-machine stack's mark: its sweep finds every process we start


def carries_mark(pid: int, mark: str) -> bool:
    """Process `pid` was started with DATALAB_STACK=<mark>, i.e. by the datalab whose id that is."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{STACK_ENV}={mark}".encode() in environ.split(b"\0")


class LocalCatalogSpawner(IdentityMixin, LimitsMixin, MachineMixin, CatalogMixin, LocalProcessSpawner):
    """The catalog on one machine: sessions are processes of the user's own account."""

    state_dir = Unicode(
        help="""Where homes (`homes/<account>`, 0700) and sessions' private directories (`run/`) live.
        Default: $DATALAB_STATE_DIR, else `.datalab` in the hub's working directory.""",
    ).tag(config=True)

    @default("state_dir")
    def _state_dir_default(self):
        return str(Path(os.environ.get("DATALAB_STATE_DIR") or ".datalab").resolve())

    git_env = Dict(
        help="Extra environment for `git clone` (e.g. GIT_SSL_CAINFO for a private certificate authority).",
    ).tag(config=True)

    git_timeout = Float(120.0, help="Seconds allowed for cloning the session's git repository.").tag(
        config=True
    )

    start_slots = Integer(
        help="""How many sessions may be starting at once (from launching the server's process until it
        answers); the others wait in line, in the order they came, and their spawn page says how many are
        ahead. Default: two per core of the machine (on a machine busy with other work, two per core keep
        the line's share of the CPU). The wait counts within `start_timeout`.""",
    ).tag(config=True)

    @default("start_slots")
    def _start_slots_default(self):
        return 2 * (os.cpu_count() or 1)

    _start_line: StartQueue | None = None  # shared by every session of this hub

    def _start_queue(self) -> StartQueue:
        line = LocalCatalogSpawner._start_line
        if line is None or line.slots != self.start_slots:
            line = LocalCatalogSpawner._start_line = StartQueue(self.start_slots)
        return line

    @default("cmd")
    def _cmd_default(self):
        return ["jupyterhub-singleuser"]  # found first on the session's PATH: its environment's

    # per-session state (kept across hub restarts by get_state/load_state)
    account: Account | None = None
    session_dir: str = ""
    tmp_dir: str = ""
    pg_data: str = ""
    log_path: str = ""

    # -- form: unavailable services are greyed cards with the reason, not offered -------------------

    def form_unavailable(self, offers: list[Offer]) -> dict[str, str]:
        return {o.service: why for o in offers if (why := self.unavailable_reason(o))}

    def form_notice(self, offers: list[Offer]) -> str:
        notice = self.limits_notice()
        if self.is_root:
            return notice
        line = (
            f"This datalab runs without root as {getpass.getuser()}: it serves the user "
            f"{self.single_user} only."
        )
        return notice + f'<div class="alert alert-info datalab-unavailable">{html.escape(line)}</div>'

    # -- start ---------------------------------------------------------------------------------------

    def start(self):
        self._progress_messages, self._progress_still = [], frozenset()
        self._start_future = asyncio.ensure_future(self._start())
        return self._start_future

    def _environment(self) -> Path | None:
        return self.environment_of(self.plan.image)[0] if self.plan else None

    def _key(self) -> str:
        return self.account.name + (f"--{self.name}" if self.name else "")

    async def _start(self):
        self._start_began = time.monotonic()
        if self.plan is None:  # started without JupyterHub's spawn (which makes the plan first)
            self.plan = self.validate()
        plan = self.plan
        reason = self.unavailable_reason(plan)
        if reason:
            raise SpawnException(reason, reason="unavailable_here", status_code=400)
        pin = await self.check_git_repository(plan)
        self.report_progress(f"Options accepted: {plan.service_display_name} from {plan.profile_list}")
        self.account = await self.get_account()
        await self.confine(self.account)
        run_dir = Path(self.state_dir) / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.session_dir = str(make_session_dir(run_dir / self._key(), self.account))
        self.tmp_dir = str(make_tmp_dir(self.account))
        try:
            return await self._start_session(plan, pin)
        except BaseException:
            await self._clean_up()
            raise

    def _base_env(self) -> dict[str, str]:
        a = self.account
        environment = self._environment()
        path = self.session_path(environment, a.home)
        env = {"HOME": str(a.home), "USER": a.name, "PATH": path, "LANG": "C.UTF-8"}
        if environment:
            env.update(layer_env(self.layer(), environment))
        if os.environ.get(STACK_ENV):
            env[STACK_ENV] = os.environ[STACK_ENV]
        return env

    async def _start_session(self, plan: LaunchPlan, pin: dict[str, str] | None):
        account, sdir = self.account, Path(self.session_dir)
        credentials = await self.session_credentials()
        for name, content in credentials.secret_files.items():
            write_user_file(sdir, name, content, account)
        env = dict(credentials.env)
        # jupyter-vscode-proxy: code-server (`--auth none`) on a 0600 socket in a 0700 directory, not on a
        # TCP port other accounts could open; jupyter-server-proxy checks the session's own login first.
        env["JUPYTER_VSCODE_PROXY_USE_SOCKET"] = "1"
        # code-server otherwise gives its terminals a login shell's environment, whose /etc/profile resets
        # PATH to the system's (no python, pip or aws of the session); as in images/Dockerfile's vscode.
        env["VSCODE_CLI"] = "1"
        env["TMPDIR"] = self.tmp_dir  # where that socket's directory goes: the session's own, removed at stop
        if CREDENTIALS_FILE in credentials.secret_files:
            env["DATALAB_CREDENTIALS_FILE"] = str(sdir / CREDENTIALS_FILE)
        env[STATUS_DIR_ENV] = str(sdir)  # how the start went (a failed clone), for the session to show
        if plan.git_repository:
            folder = repository_folder(plan.git_repository)
            self.report_progress(f"Git: cloning {plan.git_repository} into ~/{folder}")
            try:
                outcome = await clone(account, plan.git_repository, folder,
                                      {**self._base_env(), **self.git_env}, self.git_timeout, pin)  # fmt: skip
                self.report_progress(f"Git: {outcome[0].lower()}{outcome[1:]}")
            except CommandFailed as e:
                self.report_progress(
                    f"Git: could not clone {plan.git_repository}: {e}. The session starts without it."
                )
                record = clone_failure_record(plan.git_repository, folder, e.output, datetime.now(UTC))
                write_user_file(sdir, CLONE_FAILED_FILE, record, account)
            env["DATALAB_GIT_REPOSITORY"] = plan.git_repository
        if plan.postgres:
            bin_dir = postgres_bin_dir()
            if bin_dir is None:
                self.report_progress("PostgreSQL: not installed on this machine (initdb not found)")
                raise SpawnException(
                    "PostgreSQL is not installed on this machine (initdb not found)", reason="postgres"
                )
            data = local_postgres.data_dir(account.home, self.name)
            self.report_progress(
                f"PostgreSQL: starting the database {plan.postgres.database}, its data in "
                f"~/{data.relative_to(account.home)}"
            )
            try:
                pg_env = await local_postgres.start(
                    account, plan.postgres, bin_dir=bin_dir, data=data, session_dir=sdir,
                    port=random_port(), env=self._base_env(),
                )  # fmt: skip
            except CommandFailed as e:
                self.report_progress(f"PostgreSQL: could not start: {e}")
                raise SpawnException(f"PostgreSQL could not start: {e}", reason="postgres") from None
            self.pg_data = str(data)
            env.update(pg_env)
            where = f"{pg_env.get('PGHOST', '')}:{pg_env.get('PGPORT', '')}".strip(":")
            self.report_progress(
                f"PostgreSQL: ready ({plan.postgres.database}{' on ' + where if where else ''})"
            )
        self.environment = {**self.environment, **env}
        self.default_url = plan.default_url.rstrip("/") + "/" if plan.kind != "jupyter" else plan.default_url
        self.notebook_dir = str(account.home)
        self.cpu_limit = plan.cpu
        self.mem_limit = int(plan.memory_gib * 1024**3)
        self.make_cgroup(plan, self._key())
        in_line = lambda ahead: self.report_progress(waiting_message(ahead), advance=False)  # noqa: E731
        async with self._start_queue().slot(in_line):
            self.report_progress(f"Starting {plan.service_display_name} as {account.name}")
            log = self._open_session_log()
            self.popen_kwargs = {**self.popen_kwargs, "stdout": log, "stderr": subprocess.STDOUT}
            try:
                ip, port = await LocalProcessSpawner.start(self)
            finally:
                log.close()  # the session keeps its own copy of the descriptor
            # Within start_timeout, with a margin: what is left of http_timeout is the hub's own check's.
            left = self._start_began + self.start_timeout - 5 - time.monotonic()
            url = f"http://{ip or '127.0.0.1'}:{port}{self.server.base_url}api"
            alive = lambda: self.proc is not None and self.proc.poll() is None  # noqa: E731
            await wait_answering(url, alive, max(0.0, min(self.http_timeout, left)))
        return ip, port

    def _open_session_log(self):
        """The session's output file, new at each start, readable by the hub only (My services shows its
        last lines while the server starts or after it failed)."""
        logs = Path(self.state_dir) / "logs" / "sessions"
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path = str(logs / f"{self._key()}.log")
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        return os.fdopen(fd, "wb")

    def session_log_tail(self, lines: int = 30) -> list[str]:
        """The last lines of the session's output (empty when it has none)."""
        if not self.log_path:
            return []
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line[:400] for line in text.splitlines()[-lines:]]

    def get_env(self):
        env = super().get_env()
        env.update(self._base_env() if self.account else {})
        return env

    # -- stop ----------------------------------------------------------------------------------------

    async def poll(self):
        """A server resumed from the database is ours only when its process carries our stack's mark: a
        copy of the state directory (same database, same pids) never adopts, routes to or stops another
        datalab's sessions, nor removes their files."""
        mark = os.environ.get(STACK_ENV)
        if self.proc is None and self.pid and mark and not carries_mark(self.pid, mark):
            self.log.warning(
                "%s: pid %s is not a process of this datalab (a copy of another one's state?): not adopted",
                self._log_name,
                self.pid,
            )
            self.session_dir = self.tmp_dir = self.pg_data = ""  # theirs: never removed from here
            self.clear_state()
            return 0
        return await super().poll()

    async def _clean_up(self) -> None:
        """Stop the session's PostgreSQL and remove its private directory (secrets included) and TMPDIR."""
        if self.pg_data and self.account:
            bin_dir = postgres_bin_dir()
            if bin_dir:
                try:
                    await local_postgres.stop(
                        self.account, bin_dir=bin_dir, data=Path(self.pg_data), env=self._base_env()
                    )
                except CommandFailed as e:
                    self.log.warning("Could not stop the PostgreSQL of %s: %s", self._log_name, e)
        self.pg_data = ""
        self.release_cgroup()  # what is left of the session in it is killed first
        for attr in ("session_dir", "tmp_dir"):
            if getattr(self, attr):
                shutil.rmtree(getattr(self, attr), ignore_errors=True)
                setattr(self, attr, "")

    async def stop(self, now=False):
        pid = self.pid
        await super().stop(now=now)
        await self._after_exit(pid)
        await self._clean_up()

    async def _after_exit(self, pid: int) -> None:
        """What the stopped server leaves in the home: its jpserver files go; the Vault token file its
        session extension removed goes back while another server of the user still runs (they share it)."""
        account = self.account
        if account is None:
            return
        if pid:
            with contextlib.suppress(CommandFailed, OSError):
                await remove_server_files(account, pid, self._base_env())
        for other in list(getattr(self.user, "spawners", {}).values()):
            if other is self or not getattr(other, "active", False) or not getattr(other, "session_dir", ""):
                continue
            if other.account is None or other.account.uid != account.uid:
                continue
            token = vault_token_in(Path(other.session_dir), CREDENTIALS_FILE)
            if token and restore_vault_token(account, token):
                self.log.info(
                    "Restored the Vault token file of %s for its server %s", account.name, other.name
                )
            break

    # -- state across hub restarts -------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.account:
            a = self.account
            state["account"] = [a.name, a.uid, a.gid, str(a.home)]
        if self.session_dir:
            state["session_dir"] = self.session_dir
        if self.tmp_dir:
            state["tmp_dir"] = self.tmp_dir
        if self.pg_data:
            state["pg_data"] = self.pg_data
        if self.log_path:
            state["log_path"] = self.log_path
        state.update(self.cgroup_state())
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("account"):
            name, uid, gid, home = state["account"]
            self.account = Account(name, uid, gid, Path(home))
        self.session_dir = state.get("session_dir", "")
        self.tmp_dir = state.get("tmp_dir", "")
        self.pg_data = state.get("pg_data", "")
        self.log_path = state.get("log_path", "")
        self.load_cgroup_state(state)
