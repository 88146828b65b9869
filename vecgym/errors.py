"""Exceptions raised by vecgym."""

from __future__ import annotations


class InvalidActionError(ValueError):
    """An action that cannot be applied (wrong shape or type, or, with ``strict=True``, any
    non-finite, out-of-range or over-budget entry). The message names the offending entries."""
