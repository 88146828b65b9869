"""Which implementation of the engine's hot spots an ``Engine`` calls: ``Engine(kernels=...)``.

* ``"numpy"``: the reference functions (``rng``, ``fifo``, ``phases``, ``arrivals``, ``traffic``,
  ``radio``, ``Engine._arrive`` / ``_settle`` and ``vecgym.simulator.backlogs``): plain array code,
  the semantics' source of truth.
* ``"numba"``: ``vecgym.core.kernels``, compiled fast paths that compute the same numbers (tested
  against the reference in ``tests/test_kernels.py``); ImportError without numba.

The engine calls each hot spot through the namespace ``select`` returns (``engine._k``); the
observation's noise and ``backlogs`` go through the engine's namespace too.
* ``"auto"`` (default): numba when it can be imported, else numpy; ``engine.kernels`` says which.

With ``Engine(backend="torch")`` the reference functions run on torch tensors (they are written
against the array namespace ``vecgym.core.xp``); numba does not apply there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import arrivals, fifo, phases, radio, rng, traffic
from .taskcols import G
from .xp import xp_of

KERNELS = ("auto", "numpy", "numba")


def rows_per_vehicle(tasks: np.ndarray, col: int, n_g: int) -> np.ndarray:
    """Task rows per vehicle slot (n_g of them) whose column ``col`` is > 0.

    The other rows count in an extra bin n_g, dropped: no compaction (a host sync on a device)."""
    xp = xp_of(tasks)
    g = xp.where(tasks[:, col] > 0.0, xp.astype(tasks[:, G], xp.int64), n_g)
    return xp.bincount(g, length=n_g + 1)[:n_g]


@dataclass(frozen=True)
class KernelTable:
    """The hot spots an engine calls, one field each: both implementations fill every field, so
    one cannot lack what the other has. None where the engine's own method is the reference."""

    name: str
    fifo_slot: Callable[..., Any]
    local_phase: Callable[..., Any]
    uplink_phase: Callable[..., Any]
    edge_phase: Callable[..., Any]
    downloading: Callable[..., Any]
    downlink_phase: Callable[..., Any]
    rows_per_vehicle: Callable[..., Any]
    backlogs: Callable[..., Any] | None
    normal: Callable[..., Any]
    draw_arrivals: Callable[..., Any]
    settle: Callable[..., Any] | None
    arrive: Callable[..., Any] | None
    initial: Callable[..., Any]
    entries: Callable[..., Any]
    advance: Callable[..., Any]
    fading_draw: Callable[..., Any]
    draw_radio_map: Callable[..., Any]
    drift_radio_map: Callable[..., Any]
    map_shadowing_db: Callable[..., Any]
    activity_init: Callable[..., Any]
    activity_step: Callable[..., Any]


#: The reference implementation. ``settle``, ``arrive`` and ``backlogs`` are None: the engine's own
#: ``_settle`` and ``_arrive`` and ``vecgym.simulator.backlogs`` run.
REFERENCE = KernelTable(
    name="numpy",
    fifo_slot=fifo.fifo_slot,
    local_phase=phases.local_phase,
    uplink_phase=phases.uplink_phase,
    edge_phase=phases.edge_phase,
    downloading=phases.downloading,
    downlink_phase=phases.downlink_phase,
    rows_per_vehicle=rows_per_vehicle,
    backlogs=None,
    normal=rng.normal,
    draw_arrivals=arrivals.draw_arrivals,
    settle=None,
    arrive=None,
    initial=traffic.initial,
    entries=traffic.entries,
    advance=traffic.advance,
    fading_draw=radio.fading_draw,
    draw_radio_map=radio.draw_radio_map,
    drift_radio_map=radio.drift_radio_map,
    map_shadowing_db=radio.map_shadowing_db,
    activity_init=arrivals.activity_init,
    activity_step=arrivals.activity_step,
)


def select(kernels: str, backend: str = "numpy") -> KernelTable:
    """The implementation for ``kernels`` (one of ``KERNELS``); its ``name`` is "numpy" or "numba".

    The torch backend runs the reference functions (written against ``vecgym.core.xp``) on its
    tensors: ``"auto"`` gives the reference, ``"numba"`` (compiled for numpy arrays) is refused.
    """
    if not isinstance(kernels, str) or kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    if backend != "numpy":
        if kernels == "numba":
            raise ValueError(
                f"kernels='numba' runs on numpy arrays only; backend={backend!r} uses the reference "
                "functions (kernels='auto' or 'numpy')"
            )
        return REFERENCE
    if kernels == "numpy":
        return REFERENCE
    try:
        from .kernels import FAST
    except ImportError as exc:
        if kernels == "numba":
            raise ImportError(
                "Engine(kernels='numba') needs numba: pip install numba (or pip install 'vecgym[fast]')"
            ) from exc
        return REFERENCE
    return FAST
