"""Which SeaweedFS volumes have lost data: each volume's index (`.idx`) against its data file (`.dat`).

A volume file cut short (a full disk, a copy interrupted, a crash of the file system) loads without a
word from SeaweedFS, and then every read of a needle past the cut fails. The index says where every live
needle starts and how long it is, so comparing it with the data file's size finds the lost needles without
reading the data. Pure reading of files: safe while SeaweedFS runs (a half-written last entry is ignored).
Each S3 bucket is a SeaweedFS collection, and its volumes are `<bucket>_<id>.dat`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# An index entry: needle id (8 bytes), offset in units of 8 bytes, size (4), big-endian. The offset takes
# 4 bytes, or 5 in the "large disk" builds (`weed version` says 8000GB, as the PyPI one does): the 4 low
# bytes first, then the high byte.
LARGE_DISK_ENTRY = 17
SMALL_DISK_ENTRY = 16
PADDING = 8
HEADER = 16  # cookie (4), id (8), size (4)
CHECKSUM = 4
VOLUME_FILE = re.compile(r"^(?:(?P<collection>.+)_)?(?P<vid>\d+)\.dat$")


@dataclass(frozen=True)
class Damage:
    """A volume whose data file ends before some of its live needles."""

    path: str
    collection: str
    volume_id: int
    lost: int  # live needles past the end of the data file
    live: int
    size: int  # bytes in the data file
    needed: int  # bytes the index says it should have at least

    def describe(self) -> str:
        where = f"bucket {self.collection}" if self.collection else "no bucket"
        return (
            f"volume {self.volume_id} ({where}, {self.path}) is truncated: {self.size} bytes where its index "
            f"needs {self.needed}; {self.lost} of its {self.live} stored pieces are unreadable"
        )


def entry_size(weed_version: str) -> int:
    """The index entry size of the SeaweedFS build whose `weed version` output is given."""
    return SMALL_DISK_ENTRY if "30GB" in weed_version else LARGE_DISK_ENTRY


def live_needles(index: bytes, entry: int = LARGE_DISK_ENTRY) -> dict[int, tuple[int, int]]:
    """needle id -> (byte offset, size) of the needles the index still holds (later entries win)."""
    live: dict[int, tuple[int, int]] = {}
    for at in range(0, len(index) - len(index) % entry, entry):
        key = int.from_bytes(index[at : at + 8], "big")
        offset = int.from_bytes(index[at + 8 : at + 12], "big")
        if entry == LARGE_DISK_ENTRY:
            offset += index[at + 12] << 32
        size = int.from_bytes(index[at + entry - 4 : at + entry], "big", signed=True)
        if offset > 0 and size > 0:
            live[key] = (offset * PADDING, size)
        else:  # a deletion (tombstone)
            live.pop(key, None)
    return live


def check_volume(dat: Path, entry: int = LARGE_DISK_ENTRY) -> Damage | None:
    """The damage of one volume, or None when every live needle lies inside its data file."""
    m = VOLUME_FILE.match(dat.name)
    idx = dat.with_suffix(".idx")
    if m is None or not idx.exists():
        return None
    try:
        size = dat.stat().st_size
        live = live_needles(idx.read_bytes(), entry)
    except OSError:
        return None
    ends = [offset + HEADER + length + CHECKSUM for offset, length in live.values()]
    lost = sum(1 for end in ends if end > size)
    if not lost:
        return None
    return Damage(str(dat), m["collection"] or "", int(m["vid"]), lost, len(live), size, max(ends))


def check_volumes(data_dir: Path, entry: int = LARGE_DISK_ENTRY) -> list[Damage]:
    """Every damaged volume under SeaweedFS's data directory, in a stable order."""
    if not data_dir.is_dir():
        return []
    found = (check_volume(p, entry) for p in sorted(data_dir.rglob("*.dat")))
    return [d for d in found if d is not None]
