"""Whose system account a local session runs as, and its confinement: a mixin of LocalCatalogSpawner.

As root, each hub user's sessions (and each of their project sessions) run as an account of their own,
created on first spawn (spawner.local.accounts), put in the sessions' packet filter (spawner.local.firewall)
before anything runs as it; without root, the hub's own account serves one hub user only.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from jupyterhub.spawner import set_user_setuid
from traitlets import Unicode, default
from traitlets.config import Configurable

from ..errors import SpawnException
from . import firewall
from .accounts import Account, AccountError, account_name, ensure_account, ensure_home


class IdentityMixin(Configurable):
    """The account of a session (`self.account`, homes under `self.state_dir`) and its packet filter."""

    account_template = Unicode(
        "dl-{username}",
        help="""System account of a hub user when the hub runs as root (`{username}` is replaced). Only
        accounts created by Datalab are used, so a hub user never maps onto an existing system account.""",
    ).tag(config=True)

    single_user = Unicode(
        help="""When the hub does not run as root, every session runs as the hub's own account, so only this
        hub user may start servers. Default: the name of the account running the hub.""",
    ).tag(config=True)

    @default("single_user")
    def _single_user_default(self):
        return getpass.getuser().lower()

    firewall_table = Unicode(
        "",
        help="""The nftables table (inet family) that confines session accounts, made by `datalab up` as root
        (spawner.local.firewall). Each account is added to it before anything runs as that account; a
        spawn fails when that cannot be done. Empty: sessions are not confined by a packet filter.""",
    ).tag(config=True)

    @property
    def is_root(self) -> bool:
        return os.geteuid() == 0

    def account_user(self) -> str:
        """Whose account the session runs as: the user's own, or for a server in a project their account of
        that project (`<user>_<project>`: no user or project name holds '_'), with a home of its own, so a
        visitor of a shared project server never reaches the owner's personal home or sessions."""
        project = getattr(self.plan, "project", "") if self.plan is not None else ""
        return f"{self.user.name}_{project}" if project else self.user.name

    async def get_account(self) -> Account:
        homes = Path(self.state_dir) / "homes"
        if not self.is_root:
            if self.user.name != self.single_user:
                raise SpawnException(
                    f"This datalab runs without root as {getpass.getuser()}, so it serves the user "
                    f"{self.single_user} only; {self.user.name} cannot start a server here.",
                    reason="single_user",
                    status_code=403,
                )
            account = Account.current(homes / self.account_user())
            homes.mkdir(parents=True, exist_ok=True)
            ensure_home(account.home, account.uid, account.gid)
            return account
        try:
            name = account_name(self.account_template, self.account_user())
            return await ensure_account(name, homes / name, on_created=self.release_uid)
        except AccountError as e:
            raise SpawnException(f"Cannot start: {e}", reason="account", status_code=500) from None

    def make_preexec_fn(self, name):
        account = self.account
        if self.is_root and account is not None and account.uid != 0:
            return self.joining(set_user_setuid(account.name))
        home = str(account.home) if account else None

        def preexec():
            if home:
                os.chdir(home)

        return self.joining(preexec)

    def user_env(self, env):
        if self.account is not None:
            env["USER"] = self.account.name
            env["HOME"] = str(self.account.home)
            env["SHELL"] = "/bin/bash"
        return env

    async def release_uid(self, uid: int) -> None:
        """A new account's uid out of every packet filter still holding it from an account since deleted."""
        if firewall.nft_path() is None:
            return  # no nft, no table
        try:
            stale = await firewall.release_async(uid)
        except (firewall.FirewallError, ValueError) as e:
            raise AccountError(f"could not check the packet filters for the new uid {uid}: {e}") from None
        if stale:
            self.log.warning("uid %d was still confined by stale nftables table(s) %s: released", uid, stale)

    async def confine(self, account: Account) -> None:
        """Put the account in the sessions' packet filter (when there is one)."""
        if not self.firewall_table or not self.is_root or account.uid == 0:
            return
        try:
            await firewall.apply_async(firewall.admission(self.firewall_table, [account.uid]))
        except (firewall.FirewallError, ValueError) as e:
            raise SpawnException(
                f"Cannot start: the session could not be confined by the packet filter: {e}",
                reason="firewall",
                status_code=500,
            ) from None
