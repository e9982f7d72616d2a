"""At the session's start: read the backend's record of a failed clone, and keep the home's notice in step."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .clone import FAILED_FILE, HOME_NOTICE, CloneFailure, home_notice_text, is_home_notice, parse_failure

log = logging.getLogger(__name__)


def read_failure(status_dir: Path) -> CloneFailure | None:
    """The recorded failure, or None (no record, or one that cannot be read: logged)."""
    path = status_dir / FAILED_FILE
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("jupyter_s3_ext: cannot read %s: %s", path, e.strerror)
        return None
    try:
        return parse_failure(text[:20_000])
    except ValueError as e:
        log.warning("jupyter_s3_ext: %s: %s", path, e)
        return None


def sync_home_notice(home: Path, failure: CloneFailure | None) -> Path | None:
    """Write the notice at the top of the home for a failure; remove a notice of ours otherwise.

    A file of that name the user wrote is never replaced or removed. Returns the notice's path when one is
    in place.
    """
    path = home / HOME_NOTICE
    try:
        existing = path.read_text(errors="replace") if path.is_file() else None
    except OSError:
        existing = None
    if path.exists() and (existing is None or not is_home_notice(existing)):
        return None  # not ours
    try:
        if failure is None:
            if existing is not None:
                path.unlink()
            return None
        text = home_notice_text(failure)
        if existing != text:
            tmp = path.with_name(f".{HOME_NOTICE}.{os.getpid()}")
            tmp.write_text(text)
            os.replace(tmp, path)
        return path
    except OSError as e:
        log.warning("jupyter_s3_ext: cannot update %s: %s", path, e.strerror)
        return None
