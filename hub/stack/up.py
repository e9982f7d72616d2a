"""`datalab up`: start IdP, SeaweedFS, OpenBao, proxy and hub in order, supervise them, stop them all.

Configuration of S3 (buckets, STS role) and Vault (JWT auth, role, policy) is re-applied on every start,
idempotently, so a restart repairs what a crash may have left half-done and keeps all data. As root, the
sessions' packet filter (hub/stack/isolation.py) is in place before the hub starts and goes after the last
session's process.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import pwd
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from spawner.catalog import default_catalog_dir
from spawner.local import firewall
from spawner.local.environments import default_cache_dir

from . import environments, isolation, openbao, s3check, seaweed, tls, versions
from .hubconfig import CONFIG_PY
from .layout import (
    Layout,
    blocking_ancestor,
    browser_origins,
    load_ports,
    public_address,
    public_url,
    secret,
    start_slots,
    state_dir,
    write_private,
)
from .parts import parts as stack_parts
from .projects import catalog_datasets, known_projects
from .supervisor import Supervisor, stack_id, start_ticks, sweep
from .users import ADMINS_GROUP, DEMO_USERS, USERS_GROUP, ensure_first_users, users_at_start
from .volumes import check_volumes, entry_size

CLIENT_ID = "datalab-hub"


class StackError(RuntimeError):
    """Something that prevents the datalab from starting, said plainly."""


def check_ports_free(host: str, public_port: int, ports: dict[str, int], ports_file: Path) -> None:
    wanted = [(host, public_port, "public (DATALAB_PORT)")] + [("127.0.0.1", p, n) for n, p in ports.items()]
    for h, port, name in wanted:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((h, port))
            except OSError:
                where = (
                    "set DATALAB_PORT" if name.startswith("public") else f"change {name!r} in {ports_file}"
                )
                raise StackError(
                    f"port {h}:{port} ({name}) is already in use: stop what uses it or {where}"
                ) from None


def lock_state(layout: Layout):
    """One `datalab up` per state directory."""
    f = open(layout.root / "stack.lock", "a+")  # held for the process's life
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StackError(f"another `datalab up` is running with the state directory {layout.root}") from None
    return f


def check_reachable(layout: Layout) -> None:
    """As root, sessions run as other accounts: the venv and the homes must be reachable by them."""
    for what, path in (("the Python environment", versions.VENV_BIN), ("the state directory", layout.root)):
        blocker = blocking_ancestor(path)
        if blocker is not None:
            raise StackError(
                f"{what} ({path}) is inside {blocker}, which other accounts cannot enter, so users' sessions "
                f"could not run. Use a state directory elsewhere (DATALAB_STATE_DIR=/var/lib/datalab) and "
                f"keep the repository in a traversable place, or `chmod o+x {blocker}`."
            )


def first_accounts(is_root: bool) -> dict[str, list[str]]:
    if is_root:
        return DEMO_USERS
    return {getpass.getuser().lower(): [USERS_GROUP, ADMINS_GROUP]}


def retry(action, what: str, timeout: float = 60.0):
    """Run `action` until it succeeds (a busy machine answers slowly at first), else a StackError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception as e:  # hvac/requests errors while a server is still settling
            if time.monotonic() > deadline:
                raise StackError(f"{what} failed: {e}") from e
            time.sleep(1)


class Stack:
    """The running datalab: its layout, ports, secrets and supervisor."""

    def __init__(self, env: dict[str, str] | None = None, say=print):
        self.env_in = dict(os.environ if env is None else env)
        self.say = say
        self.layout = Layout(state_dir(self.env_in))
        self.is_root = os.geteuid() == 0
        self.host, self.port = public_address(self.env_in)
        self.start_slots = start_slots(self.env_in)
        self.url = public_url(self.host, self.port)
        self.mark = stack_id(self.layout.root)
        self.sup = Supervisor(self.mark, say=say, session_uids=self.session_uids)
        self.lock = None  # held while this process owns the state directory
        self.isolation: isolation.Isolation | None = None
        self.held_environments = None  # the session environments this run uses, kept from pruning

    def session_uids(self) -> set[int]:
        """The system accounts Datalab made for this state directory's users (root only)."""
        if not self.is_root:
            return set()
        homes = str(self.layout.homes) + os.sep
        return {
            e.pw_uid
            for e in pwd.getpwall()
            if e.pw_gecos.startswith("Datalab session account")
            and e.pw_dir.startswith(homes)
            and e.pw_uid != 0
        }

    # -- configuration files --
    def prepare(self) -> list[tuple[str, str, list[str]]]:
        lay = self.layout
        if self.is_root:
            lay.root.mkdir(parents=True, exist_ok=True)
            check_reachable(lay)
        lay.create()
        self.lock = lock_state(lay)
        # First the leftovers of a `datalab up` killed with -9 (found by this stack's mark only): they
        # hold the ports the check below wants free.
        left = sweep(self.mark, grace=10.0, uids=frozenset(self.session_uids()))
        if left:
            self.say(f"datalab: stopped {len(left)} process(es) left over by an earlier run of this state")
        self.ports = load_ports(lay)
        check_ports_free(self.host, self.port, self.ports, lay.ports_file)
        try:
            self.isolation = isolation.decide(
                is_root=self.is_root, mark=self.mark, env=self.env_in, nft=firewall.nft_path()
            )
        except isolation.IsolationError as e:
            raise StackError(str(e)) from None
        created = ensure_first_users(lay, first_accounts(self.is_root))
        self.users = users_at_start(lay, self.say)  # a damaged users.yaml: a UserError naming its line
        self.projects, refused = known_projects(self.users)
        self.datasets = catalog_datasets(self.env_in.get("DATALAB_CATALOG_DIR", ""))
        for problem in refused:
            self.say(f"datalab: {problem}")
        self.issuer = f"http://127.0.0.1:{self.ports['idp']}"
        self.client_secret = secret(lay, "idp_client_secret")
        clients = {
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": self.client_secret,
                    "redirect_uris": [self.url + "/hub/oauth_callback"],
                }
            ]
        }
        write_private(lay.idp / "clients.yaml", yaml.safe_dump(clients))
        self.s3_key = "admin-" + secret(lay, "s3_admin_key", 8)
        self.s3_secret = secret(lay, "s3_admin_secret")
        s3_cfg = seaweed.s3_config(self.s3_key, self.s3_secret)
        write_private(lay.s3 / "s3.json", json.dumps(s3_cfg, indent=2))
        iam = seaweed.iam_config(
            issuer=self.issuer,
            client_id=CLIENT_ID,
            signing_key=secret(lay, "sts_signing_key"),
            projects=self.projects,
            datasets=self.datasets,
        )
        write_private(lay.s3 / "iam.json", json.dumps(iam, indent=2))
        keys = {
            k: secret(lay, f"seaweed_jwt_{k}")
            for k in ("volume_write", "volume_read", "filer_write", "filer_read")
        }
        write_private(lay.s3 / "security.toml", seaweed.security_toml(keys, tls.ensure(lay.s3 / "tls")))
        (lay.vault / "data").mkdir(exist_ok=True)
        write_private(
            lay.vault / "config.hcl",
            openbao.config_hcl(lay, self.ports["vault"], self.ports["vault_cluster"]),
        )
        secret(lay, "cookie_secret")
        return created

    def hub_settings(self) -> dict:
        tools = versions.TOOLS_BIN
        return {
            "state_dir": str(self.layout.root),
            "public_url": self.url,
            "ports": self.ports,
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "s3_endpoint": f"http://127.0.0.1:{self.ports['s3']}",
            # browsers on this machine send uploads straight to S3; others cannot reach it
            "s3_browser_endpoint": f"http://127.0.0.1:{self.ports['s3']}"
            if browser_origins(self.host, self.port)
            else "",
            "vault_addr": f"http://127.0.0.1:{self.ports['vault']}",
            "tools_path": [str(tools)] if tools.is_dir() else [],
            "catalog_dir": self.env_in.get("DATALAB_CATALOG_DIR", ""),
            "account_template": self.env_in.get("DATALAB_ACCOUNT_TEMPLATE", ""),
            "firewall_table": self.isolation.table if self.isolation else "",
            "environment_cache": str(self.environment_cache),
            "start_slots": self.start_slots,
        }

    def unseal(self) -> None:
        self.root_token = openbao.init_and_unseal(self.layout, f"http://127.0.0.1:{self.ports['vault']}")

    def build_environments(self) -> None:
        """The session environments the catalog needs, built (or found unchanged) before the hub starts."""
        self.environment_cache = default_cache_dir(self.env_in)
        catalog = Path(self.env_in.get("DATALAB_CATALOG_DIR") or default_catalog_dir())
        try:
            spent = environments.build_for_catalog(catalog, self.environment_cache, say=self.say)
        except environments.EnvironmentStepError as e:
            raise StackError(str(e)) from None
        ready = ", ".join(f"{name} ({seconds:.1f} s)" for name, seconds in spent.items())
        self.say(f"datalab: session environments ready: {ready or 'none needed'}")
        self.held_environments = environments.hold_and_prune(catalog, self.environment_cache, say=self.say)

    def start(self) -> None:
        self.build_environments()
        try:
            isolation.install(self.isolation, self.ports, self.port, self.session_uids())
        except isolation.IsolationError as e:
            raise StackError(str(e)) from None
        parts = stack_parts(self.layout, self.ports, self.mark, self.host, self.port, self.url, self.issuer)
        self.sup.launch(parts["idp"])
        # SeaweedFS and OpenBao start together; each is waited for.
        s3, vault = parts["seaweedfs"], parts["openbao"]
        # Before SeaweedFS starts: it trims a truncated volume as it loads it, silently.
        damaged = check_volumes(self.layout.s3 / "data", entry_size(versions.version_of("seaweedfs")))
        s3.start()
        vault.start()
        self.sup.parts += [s3, vault]
        vault.wait_ready(60)
        self.unseal()
        vault.after_start = self.unseal
        retry(
            lambda: openbao.configure(
                vault.address, self.root_token, issuer=self.issuer, audience=CLIENT_ID, projects=self.projects
            ),
            "configuring OpenBao",
        )
        s3.wait_ready(60)
        self.s3_works()
        s3.after_start = self.s3_works  # after a restart too: ready is when S3 works end to end
        try:
            datasets = sorted({d["bucket"] for d in self.datasets})
            s3check.ensure_buckets(s3.address, self.s3_key, self.s3_secret, self.users, extra=datasets)
        except RuntimeError as e:
            raise StackError(str(e)) from None
        self.check_objects(damaged)
        settings = self.layout.hub / "settings.json"
        write_private(settings, json.dumps(self.hub_settings(), indent=2))
        write_private(self.layout.hub / "jupyterhub_config.py", CONFIG_PY.format(settings=str(settings)))
        self.sup.launch(parts["proxy"])
        self.sup.launch(parts["jupyterhub"], timeout=120)
        self.write_status()
        self.sup.on_restart = lambda part: self.write_status()

    def s3_works(self) -> None:
        """Until a probe object goes through S3 and the master knows every volume (or a StackError)."""
        s3 = s3check.admin_client(f"http://127.0.0.1:{self.ports['s3']}", self.s3_key, self.s3_secret)
        known = s3check.master_volumes(self.layout, versions.tool("weed"), self.ports)
        try:
            waited = s3check.wait_works(s3, known, timeout=90)
        except s3check.S3NotReady as e:
            raise StackError(str(e)) from None
        self.say(f"datalab: S3 stores and returns objects (after {waited:.1f}s)")

    def check_objects(self, damaged) -> None:
        """Say which volumes were damaged and which objects cannot be read (also in `datalab status`)."""
        self.damaged = [d.describe() for d in damaged]
        self.unreadable = s3check.unreadable_report(self.layout, versions.tool("weed"), self.ports, damaged)
        for line in s3check.warnings(self.damaged, self.unreadable):
            self.say(f"datalab: WARNING: {line}")

    def write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "pid_start": start_ticks(os.getpid()),
            "stack_id": self.mark,
            "damaged": getattr(self, "damaged", []),
            "unreadable": getattr(self, "unreadable", []),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "url": self.url,
            "state_dir": str(self.layout.root),
            "isolation": self.isolation.as_dict() if self.isolation else None,
            "parts": {
                p.name: {
                    "pid": p.proc.pid if p.proc else None,
                    "pid_start": start_ticks(p.proc.pid) if p.proc else None,
                    "address": p.address,
                    "health_url": p.health_url,
                    "ready_codes": list(p.ready_codes),
                    "version": versions.version_of(p.name),
                }
                for p in self.sup.parts
            },
        }
        self.layout.status_file.write_text(json.dumps(status, indent=2) + "\n")

    def stop(self) -> None:
        if self.lock is None:
            return  # never started anything: nothing of ours to stop (another run may own the state)
        self.say("datalab: stopping ...")
        t0 = time.monotonic()
        self.sup.stop_all()
        try:
            if self.isolation:  # after the sweep: no session process is left unconfined
                isolation.remove(self.isolation)
        except firewall.FirewallError as e:
            self.say(f"datalab: could not remove the sessions' packet filter: {e}")
        self.layout.status_file.unlink(missing_ok=True)
        if self.held_environments:  # after the sweep: no session of ours runs from them any more
            self.held_environments.release()
        self.say(f"datalab: stopped in {time.monotonic() - t0:.1f}s")


def banner(stack: Stack, created: list[tuple[str, str, list[str]]]) -> str:
    lay = stack.layout
    lines = [
        "",
        f"Datalab is up: open {stack.url}",
        'Log in with "Sign in with Datalab", then an account of the development IdP:',
    ]
    if created:
        for name, password, groups in created:
            lines.append(f"    {name:<10} password {password:<20} groups {', '.join(groups)}")
        lines.append(f"  (these passwords are shown once; they are kept in {lay.passwords_file}, mode 0600)")
    else:
        lines.append(f"    accounts and passwords: {lay.passwords_file} (mode 0600)")
    lines.append("  Add one: datalab users add NAME --groups datalab-users")
    if not stack.is_root:
        lines.append(
            f"  Not running as root: every session runs as {getpass.getuser()}, so this datalab serves that "
            "user only."
        )
    if stack.isolation is not None:
        lines.append(f"Isolation: {stack.isolation.describe()}")
    lines += [
        f"WARNING: OpenBao's unseal key and root token are in {openbao.init_file(lay)} (mode 0600) so that it",
        "         unseals itself: this setup is for one machine, never for shared or production use.",
        f"State: {lay.root}   Logs: {lay.logs}   Stop: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def run(env: dict[str, str] | None = None, say=print) -> int:
    stack = Stack(env, say=say)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        created = stack.prepare()
        say(f"datalab: starting in {stack.layout.root} ...")
        stack.start()
        say(banner(stack, created))
        sys.stdout.flush()
        stack.sup.run_until_stopped()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for s in old:
            signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        stack.stop()
        for s, h in old.items():
            signal.signal(s, h)
