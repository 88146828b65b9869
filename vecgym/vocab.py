"""The shared vocabulary of vecgym: names that the physics, the goals and the interpreters agree on.

A leaf module (it imports nothing from vecgym), so that ``config``, ``goals`` and ``commands`` can
all import it without importing each other.
"""

from __future__ import annotations

#: Vehicle classes, in the order of the ``vehicle_class`` one-hot observation.
CLASSES: tuple[str, ...] = ("car", "bus", "truck", "emergency")

#: Names of the default task types (K = 3); more types get ``type3``, ``type4``, ...
DEFAULT_TYPE_NAMES: tuple[str, ...] = ("safety", "navigation", "infotainment")
