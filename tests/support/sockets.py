"""Every listening socket of a datalab, seen two ways: from this test process (/proc, with the owning
process and account) and from inside a session (PROBE: code a user's kernel runs to find and try them)."""

from __future__ import annotations

import os
import pwd
import re
import textwrap
from pathlib import Path

from hub.stack.supervisor import marked_pids, stack_id

# In a kernel: listeners() every listening TCP and unix socket the session can see, exchange(target,
# request) what one answers (None: refused), try_all(request, targets) all of them at once.
PROBE = textwrap.dedent("""
    import concurrent.futures, socket
    def listeners():
        found = []
        for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
            for line in open(f"/proc/net/{name}").read().splitlines()[1:]:
                f = line.split()
                if f[3] != "0A":
                    continue
                addr, port = f[1].split(":")
                loopback = "127.0.0.1" if family == socket.AF_INET else "::1"
                found.append((family, (loopback, int(port, 16))))
        for line in open("/proc/net/unix").read().splitlines()[1:]:
            f = line.split()
            if len(f) >= 8 and int(f[3], 16) & 0x10000 and f[4] == "0001":
                path = f[7]
                found.append((socket.AF_UNIX, "\\0" + path[1:] if path.startswith("@") else path))
        return found
    def exchange(target, request, timeout=5):
        # None when the connection is refused; else what the socket answered (b"connected" at least)
        family, address = target
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(address)
        except OSError:
            s.close()
            return None
        data = b""
        try:
            if request is not None:
                s.sendall(request)
                while len(data) < 65536 and (chunk := s.recv(65536)):
                    data += chunk
        except OSError:
            pass
        finally:
            s.close()
        return data or b"connected"
    def try_all(request, targets=None):
        targets = targets if targets is not None else listeners()
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            return list(zip(targets, pool.map(lambda t: exchange(t, request), targets)))
""")


def datalab_pids(lab) -> set[int]:
    """The processes of the datalab `lab`: its parts and its sessions (found by its mark, as its sweep does)."""
    uids = {e.pw_uid for e in pwd.getpwall() if e.pw_name.startswith(lab.accounts.split("{")[0])}
    return set(marked_pids(stack_id(lab.state), frozenset(uids)))


def socket_owners() -> dict[int, int]:
    """inode -> pid, for every socket of every process."""
    owners = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    owners.setdefault(int(link[8:-1]), int(pid))
        except OSError:
            continue
    return owners


def datalab_listeners(lab) -> list[dict]:
    """Every listening TCP and unix socket of the datalab's processes (its parts and all sessions)."""
    ours = datalab_pids(lab)
    owners, found = socket_owners(), []
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A":
                found.append({"kind": name, "port": int(f[1].split(":")[1], 16), "inode": int(f[9])})
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and int(f[3], 16) & 0x10000 and f[4] == "0001":
            found.append({"kind": "unix", "path": f[7], "inode": int(f[6])})
    result = []
    for sock in found:
        pid = owners.get(sock["inode"])
        if pid in ours:
            status = Path(f"/proc/{pid}/status").read_text()
            sock["pid"], sock["uid"] = pid, int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
            sock["process"] = Path(f"/proc/{pid}/comm").read_text().strip()
            result.append(sock)
    return result
