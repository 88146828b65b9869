"""Compatibility module: the offline command interpreter now lives in ``vecgym.interpret``.

``from vecgym import commands`` keeps working: every public name of ``vecgym.interpret``
(``parse_command``, ``interpret``, the mode constants, ``EXAMPLES``, ...) is re-exported here.
"""

from __future__ import annotations

from .interpret import *  # noqa: F403 - the whole public API, re-exported
from .interpret import __all__ as _interpret_names

__all__ = list(_interpret_names)
