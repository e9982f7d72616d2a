"""`datalab up`'s environment step keeps what its catalog uses and prunes the rest of the shared cache."""

from __future__ import annotations

import time
from pathlib import Path

from hub.stack.environments import hold_and_prune
from spawner.local import environment_cache as cache_
from spawner.local import environments as envs
from tests.spawner.local.test_environment_cache import age, environment

REPO = Path(__file__).resolve().parents[3]


def test_datalab_up_holds_the_catalogs_environments_and_prunes_the_rest(tmp_path):
    images = tmp_path / "images"
    (images / "python").mkdir(parents=True)
    (images / "python" / "requirements.txt").write_text("tiny==1.0\n")
    used = envs.definition("python", images).directory(tmp_path / "cache")
    (used / "bin").mkdir(parents=True)
    (used / envs.MARKER).write_text("python\n")
    age(used, 90)  # last used long ago, but this catalog uses it
    stale = environment(tmp_path / "cache", "stale", 90)
    held = hold_and_prune(REPO / "profiles", tmp_path / "cache", say=lambda line: None, images_dir=images)
    try:
        assert used.exists() and not stale.exists()
        assert time.time() - cache_.last_used(used) < 60
    finally:
        held.release()
