"""Deployment architectures, registered by YAML ``kind`` in ``simulator.registry.PLATFORMS``.

Importing this package imports every module in it (in name order), and each
module registers its architecture: adding one means adding a module here.
"""

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
        __all__.append(_info.name)
