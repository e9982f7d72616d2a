"""Every setting of our Configurable classes says what it does (`help=`) and is settable (`config=True`).

Operators meet these through `--help-all`, generated config files and the docs: a setting without help is
one they cannot use. The classes are found by importing every module of hub/, spawner/ and jupyter_s3_ext/,
so a new class is checked without being listed here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from traitlets.config import Configurable

PACKAGES = ("hub", "spawner", "jupyter_s3_ext")
# Classes that must be found, so that the check cannot pass by finding nothing.
KNOWN = {
    "hub.auth.DatalabOAuthenticator",
    "hub.credentials.broker.CredentialBroker",
    "spawner.kube.spawner.CatalogSpawner",
    "spawner.local.spawner.LocalCatalogSpawner",
    "jupyter_s3_ext.app.DatalabExtensionApp",
    "jupyter_s3_ext.contents.manager.S3MountContentsManager",
}


def _our_configurables() -> dict[str, type]:
    found: dict[str, type] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if info.name.endswith("__main__"):  # running it is the command line, not a module to read
                continue
            module = importlib.import_module(info.name)
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, Configurable)
                    and obj.__module__.split(".")[0] in PACKAGES
                ):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_setting_has_help_and_is_configurable():
    classes = _our_configurables()
    assert KNOWN <= classes.keys(), f"not found: {sorted(KNOWN - classes.keys())}"
    missing_help = [
        f"{name}.{trait}"
        for name, cls in sorted(classes.items())
        for trait, t in cls.class_own_traits(config=True).items()
        if not (t.help or "").strip()
    ]
    not_config = [
        f"{name}.{trait}"
        for name, cls in sorted(classes.items())
        for trait, t in cls.class_own_traits().items()
        if not t.metadata.get("config")
    ]
    assert not missing_help, f"settings without help=: {missing_help}"
    assert not not_config, f"traits without .tag(config=True): {not_config}"
