"""The multipart uploads this server has open, in a small file in the home, so none is left behind.

An incomplete multipart upload stays in the bucket for good (stored, billed, invisible). A clean stop
aborts the ones in flight; a killed server cannot, so each upload is written down when it is created,
touched at each part and struck off when completed or aborted. A touch reaches the file at most every
`touch_every` seconds (rewriting it at every 8 MiB part was a tenth of the server's busy samples in a
profile of a streamed upload): after a kill, an upload may look up to that much more idle than it was,
against a timeout of minutes. The next start of the same server (the
file is per server name) aborts what an earlier run left, once it has been idle for longer than the
upload idle timeout: only uploads this server started, never another tool's upload in the same bucket.

Pure decisions (`due`) on plain data; the file is rewritten whole (it holds a few entries), atomically.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Entry:
    bucket: str
    key: str
    upload_id: str
    updated: float  # time.time() of the last part (or of the creation)


def due(entries: list[Entry], now: float, idle: float) -> tuple[list[Entry], float | None]:
    """Entries idle for longer than `idle` seconds, and the seconds until the next one is (None: none left)."""
    ready = [e for e in entries if now - e.updated >= idle]
    waiting = [idle - (now - e.updated) for e in entries if now - e.updated < idle]
    return ready, (min(waiting) if waiting else None)


class UploadJournal:
    """Open uploads by id: `inherited` ones (found at start, left by an earlier run) and this run's own."""

    def __init__(self, path: Path | None, touch_every: float = 30.0):
        self.path = Path(path) if path else None
        self.touch_every = touch_every
        self._written: dict[str, float] = {}  # upload id -> its `updated` in the file
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self.inherited: set[str] = set()
        if self.path is not None:
            for e in self._read():
                self._entries[e.upload_id] = e
                self.inherited.add(e.upload_id)

    def _read(self) -> list[Entry]:
        try:
            data = json.loads(self.path.read_text())
            return [Entry(**{k: item[k] for k in ("bucket", "key", "upload_id", "updated")}) for item in data]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError, KeyError) as e:  # a damaged file loses nothing but old uploads
            log.warning("ignoring the damaged upload journal %s: %s", self.path, type(e).__name__)
            return []

    def _write(self) -> None:
        if self.path is None:
            return
        with self._lock:  # serialise inside the lock: the last write holds the latest state
            text = json.dumps([asdict(e) for e in self._entries.values()])
            self._written = {i: e.updated for i, e in self._entries.items()}
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    # -- changes (blocking, small: callers run them in a thread) ---------------------------------------
    def add(self, bucket: str, key: str, upload_id: str) -> None:
        self._entries[upload_id] = Entry(bucket, key, upload_id, time.time())
        self._write()

    def touch(self, upload_id: str) -> None:
        entry = self._entries.get(upload_id)
        if entry is not None:
            entry.updated = time.time()
            if entry.updated - self._written.get(upload_id, 0.0) >= self.touch_every:
                self._write()

    def remove(self, upload_id: str) -> None:
        if self._entries.pop(upload_id, None) is not None:
            self.inherited.discard(upload_id)
            self._write()

    # -- views -----------------------------------------------------------------------------------------
    def own(self) -> list[Entry]:
        """Uploads this run opened and has not finished."""
        return [e for i, e in self._entries.items() if i not in self.inherited]

    def left_behind(self) -> list[Entry]:
        """Uploads an earlier run of this server left open."""
        return [e for i, e in self._entries.items() if i in self.inherited]
