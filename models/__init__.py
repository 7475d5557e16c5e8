"""Deployment architectures, registered by YAML ``kind`` in ``simulator.registry.PLATFORMS``.

Importing this package registers every architecture; adding one means adding
a module here and importing it below.
"""

from models import cloud, fixed

__all__ = ["cloud", "fixed"]
