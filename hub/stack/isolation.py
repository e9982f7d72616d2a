"""How `datalab up` isolates sessions from each other and from its internal ports: decide, install, remove.

As root, sessions run as their own system accounts and the stack installs an nftables table
(spawner.local.firewall) before the hub starts: session accounts reach only the proxy, the hub API, the
S3 gateway, Vault, the IdP and their own sockets on this machine. The spawner adds each new account to it.
The table is removed at stop, after every session's process has ended; one left by a `datalab up` killed
with -9 is replaced at the next start. Without root there is one account only, so nothing can be
isolated by the network, and the banner and `datalab status` say so.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from spawner.local import firewall

OFF_ENV = "DATALAB_ISOLATION"  # "none": start as root without the packet filter (said everywhere)


class IsolationError(RuntimeError):
    """The packet filter cannot be installed; the message says what to do."""


@dataclass(frozen=True)
class Isolation:
    """What confines sessions: `table` is the nftables table, empty when sessions are not confined."""

    table: str
    reason: str = ""  # why not, when table is empty

    @property
    def enforced(self) -> bool:
        return bool(self.table)

    def describe(self) -> str:
        if self.enforced:
            return f"sessions isolated by nftables (table inet {self.table}, by account)"
        return f"sessions NOT isolated by the network: {self.reason}"

    def as_dict(self) -> dict:
        return {"table": self.table, "reason": self.reason, "description": self.describe()}


def allowed_ports(ports: dict[str, int], public_port: int) -> set[int]:
    """What a pod would reach: the proxy, the hub API, the S3 gateway, Vault and the IdP (never SeaweedFS's
    master, volume, filer, gRPC or admin ports, OpenBao's cluster port or the proxy's API)."""
    return {public_port, ports["hub"], ports["s3"], ports["vault"], ports["idp"]}


def decide(*, is_root: bool, mark: str, env: dict[str, str], nft: str | None) -> Isolation:
    """Which isolation this start gets; an IsolationError when root cannot have the filter it should."""
    if not is_root:
        return Isolation(
            "", f"not running as root, every session runs as {getpass.getuser()} (the only account served)"
        )
    if env.get(OFF_ENV, "").lower() == "none":
        return Isolation("", f"{OFF_ENV}=none: sessions' accounts may connect to every local port")
    if nft is None:
        raise IsolationError(
            "running as root, sessions must be confined by nftables, but nft is not installed: "
            "apt-get install nftables (scripts/bootstrap.sh does it), or set "
            f"{OFF_ENV}=none to start with sessions not isolated by the network"
        )
    return Isolation(firewall.table_name(mark))


def install(iso: Isolation, ports: dict[str, int], public_port: int, uids) -> None:
    """The table with the session accounts known so far (blocking, before the hub starts)."""
    if not iso.enforced:
        return
    try:
        firewall.apply(firewall.ruleset(iso.table, allowed_ports(ports, public_port), uids))
    except firewall.FirewallError as e:
        raise IsolationError(
            f"could not install the sessions' packet filter ({e}); set {OFF_ENV}=none to start without it"
        ) from None


def remove(iso: Isolation) -> None:
    if iso.enforced:
        firewall.apply(firewall.removal(iso.table))
