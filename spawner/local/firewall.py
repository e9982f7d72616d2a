"""The packet filter that confines session accounts on one machine: an nftables table (root only).

What it enforces, for the uids in its `sessions` set, on everything that leaves through `lo` (all of this
machine's own addresses, IPv4 and IPv6): a session opens TCP connections to the allowed ports (S3 gateway,
Vault, hub API, proxy, IdP), to sockets of its own account (its server, kernels, database, an app it
started) and DNS; nothing else: another session's ports, SeaweedFS's and OpenBao's internal ports and
every other TCP port are refused, and so are UDP (but DNS) and other protocols. Traffic to other
machines is not this table's business.

How "its own account" is told apart: on a session's SYN to a port that is not allowed, the connection's
conntrack mark is set to the session's uid; the listener's SYN-ACK goes out with the listener's uid
(`meta skuid` sees the listening socket) and passes only when that pair is in `same` (uid . uid). A
SYN-ACK that fails is dropped and the connection marked denied; the session's retransmitted SYN then gets
a reset, so connect() is refused after about a second instead of hanging. The listener retransmits its
SYN-ACK after about a second too: on a connection marked denied it is dropped as well, or it could reach
the session before its own retransmitted SYN and complete the connection.

A uid useradd hands out may still be listed by a table (of a datalab killed with -9, or another datalab
whose account had it): `release_async` takes it out of every Datalab table before the new account runs.

The text is built by pure functions (`ruleset`, `admission`, `release`, `removal`); `apply` and
`apply_async` run it with `nft -f -` (on stdin: nothing on a command line).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable

TABLE_PREFIX = "datalab_"
DENIED = 0x80000000  # conntrack mark bit: this connection was refused at its SYN-ACK
DNS_PORT = 53
_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class FirewallError(RuntimeError):
    """nft refused the rules (the message carries its output), or is not installed."""


def table_name(mark: str) -> str:
    """The table of one datalab (its stack id: one table per state directory)."""
    return _check_table(TABLE_PREFIX + mark)


def _check_table(table: str) -> str:
    if not _TABLE.match(table):
        raise ValueError(f"bad nftables table name {table!r}")
    return table


def _uids(uids: Iterable[int]) -> list[int]:
    out = sorted({int(u) for u in uids})
    if any(u <= 0 or u >= DENIED for u in out):
        raise ValueError(f"session uids must be between 1 and {DENIED - 1} (never root): {out}")
    return out


def _ports(ports: Iterable[int]) -> list[int]:
    out = sorted({int(p) for p in ports} | {DNS_PORT})
    if any(not 0 < p < 65536 for p in out):
        raise ValueError(f"ports must be between 1 and 65535: {out}")
    return out


def _elements(items: list[str]) -> str:
    return f"elements = {{ {', '.join(items)} }}" if items else ""


def ruleset(table: str, allowed_ports: Iterable[int], uids: Iterable[int]) -> str:
    """The whole table, replacing any table of that name in the same transaction (a stale one included)."""
    t, ports, us = _check_table(table), _ports(allowed_ports), _uids(uids)
    return f"""\
table inet {t} {{
}}
delete table inet {t}
table inet {t} {{
    set sessions {{
        type uid
        {_elements([str(u) for u in us])}
    }}
    map marks {{
        type uid : mark
        {_elements([f"{u} : {u}" for u in us])}
    }}
    set openers {{
        type mark
        {_elements([str(u) for u in us])}
    }}
    set same {{
        type uid . mark
        {_elements([f"{u} . {u}" for u in us])}
    }}
    set allowed {{
        type inet_service
        {_elements([str(p) for p in ports])}
    }}
    chain output {{
        type filter hook output priority filter; policy accept;
        oifname != "lo" accept
        meta skuid @sessions meta l4proto tcp ct direction original ct mark & {DENIED:#x} == {DENIED:#x} reject with tcp reset
        meta skuid @sessions ct state new jump opening
        ct direction reply tcp flags & (syn | ack) == syn | ack ct mark & {DENIED:#x} == {DENIED:#x} drop
        ct direction reply tcp flags & (syn | ack) == syn | ack ct mark @openers jump answering
    }}
    chain opening {{
        tcp dport @allowed accept
        udp dport {DNS_PORT} accept
        meta l4proto tcp ct mark set meta skuid map @marks accept
        reject
    }}
    chain answering {{
        meta skuid . ct mark @same accept
        ct mark set ct mark | {DENIED:#x} drop
    }}
}}
"""  # noqa: E501


def admission(table: str, uids: Iterable[int]) -> str:
    """Commands adding session accounts to a table made by `ruleset` (adding one twice is harmless)."""
    t, lines = _check_table(table), []
    for u in _uids(uids):
        lines += [
            f"add element inet {t} marks {{ {u} : {u} }}",
            f"add element inet {t} openers {{ {u} }}",
            f"add element inet {t} same {{ {u} . {u} }}",
            f"add element inet {t} sessions {{ {u} }}",  # last: confined once the rest is in place
        ]
    return "\n".join(lines) + "\n"


def listing_uid(listing: dict, uid: int) -> dict[str, list[str]]:
    """Which sets of which Datalab tables hold `uid` (as itself, a mark or a pair), from `nft -j list sets
    inet`: {table: [set, ...]}."""
    found: dict[str, list[str]] = {}
    for item in listing.get("nftables", []):
        s = item.get("set") if isinstance(item, dict) else None
        table = str(s.get("table", "")) if s else ""
        if not table.startswith(TABLE_PREFIX) or not _TABLE.match(table) or s.get("name") == "allowed":
            continue  # not one of ours (whatever else is named like it), or ports
        for e in s.get("elem", []):
            if e == uid or (isinstance(e, dict) and e.get("concat") == [uid, uid]):
                found.setdefault(table, []).append(s["name"])
                break
    return found


def release(found: dict[str, list[str]], uid: int) -> str:
    """Commands taking `uid` out of the sets `listing_uid` found (`sessions` first: it is what confines)."""
    lines = []
    for table, names in sorted(found.items()):
        for name in [n for n in ("sessions", "openers", "same") if n in names]:
            item = f"{uid} . {uid}" if name == "same" else str(uid)
            lines.append(f"delete element inet {_check_table(table)} {name} {{ {item} }}")
    return "\n".join(lines) + "\n" if lines else ""


def removal(table: str) -> str:
    """Delete the table, whether or not it exists."""
    t = _check_table(table)
    return f"table inet {t} {{\n}}\ndelete table inet {t}\n"


# -- doing ------------------------------------------------------------------------------------------------


def nft_path() -> str | None:
    """The nft program (Debian puts it in /usr/sbin, which may not be on PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nft", path=path)


def _nft() -> str:
    nft = nft_path()
    if nft is None:
        raise FirewallError("nft is not installed (Debian: apt-get install nftables)")
    return nft


def _failed(out: str) -> FirewallError:
    return FirewallError(f"nft refused the rules: {out.strip()[-800:]}")


def apply(text: str, timeout: float = 30.0) -> None:
    """Run nft commands (blocking: for `datalab up`, which has no event loop)."""
    r = subprocess.run(
        [_nft(), "-f", "-"], input=text, capture_output=True, text=True, timeout=timeout, check=False
    )
    if r.returncode != 0:
        raise _failed(r.stdout + r.stderr)


async def _nft_async(args: list[str], text: str, limit: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        _nft(), *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(text.encode()), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise FirewallError(f"nft did not answer in {limit:.0f}s") from None
    if proc.returncode != 0:
        raise _failed((out + err).decode(errors="replace"))
    return out.decode(errors="replace")


async def apply_async(text: str, limit: float = 30.0) -> None:
    """Run nft commands off the event loop (for the spawner)."""
    await _nft_async(["-f", "-"], text, limit)


async def release_async(uid: int, limit: float = 30.0) -> list[str]:
    """Take a uid useradd has just handed out of every Datalab table still holding it; the tables' names.

    Such a table is stale for that uid: it was the uid of an account since deleted (by a datalab killed
    with -9, or another datalab on this machine), and it would confine the new account by rules that
    were never its own (its hub API port refused, the session never up)."""
    uid = _uids([uid])[0]
    out = await _nft_async(["-j", "list", "sets", "inet"], "", limit)
    try:
        found = listing_uid(json.loads(out or "{}"), uid)
    except ValueError as e:
        raise FirewallError(f"nft listed its sets in a form not understood: {e}") from None
    text = release(found, uid)
    if text:
        await apply_async(text, limit)
    return sorted(found)
