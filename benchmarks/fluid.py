"""Fluid bounds of DESIGN §2 ("Calibration"): a recorded arrival stream fed to an ideal controller.

Pure numpy over an ``ArrivalStream`` (no simulator import); the two sequential recursions (each
vehicle's local FIFO, each cell's edge FIFO) are numba kernels, so a stream of 1e6 tasks takes
well under a second.

    stream = ArrivalStream(t_arr_s=..., vehicle=..., cell=..., cycles=..., deadline_s=...,
                           vehicle_cpu_hz=5e9, edge_cpu_hz=400e9, n_servers=1)
    fluid_bound(stream).miss_rate          # the ideal controller that never abandons a task
    fluid_bound_reject(stream).miss_rate   # the same, rejecting hopeless tasks on arrival

The controller, task by task in arrival order (ties keep the order of the arrays):

1. **Local.** Each vehicle's CPU serves only its own tasks, one FIFO at rate ``f_v``. It takes an
   arriving task iff it can finish it by its deadline given the work it already took:
   ``max(t, free_v) + cycles/f_v <= t + deadline`` (``free_v`` = the finish time of the last task
   it took). A task it takes is therefore always on time (outcome ``LOCAL``).
2. **Edge.** Every other task goes, with no upload time, to a server: the server of its cell, or,
   for a task that arrived in a coverage gap (``cell == -1``), the server ``next_cell`` names (the
   next cell the vehicle reaches), or server 0 when ``n_servers == 1``. ``next_cell == -1`` (no
   cell ahead: the vehicle leaves the road in the gap) leaves the task with no server: outcome
   ``NO_SERVER``, a miss. Each server is one FIFO at rate ``F_e`` over all the tasks sent to it.
3. **Drop at the cap (`fluid_bound`).** The server never abandons a task; a task is removed at
   the instant its age reaches ``cap·deadline`` if it has not finished by then, and the work done
   on it until then is wasted. Exactly, with ``drop = t + cap·deadline`` and ``free`` the instant
   the server finished (or dropped) its previous task:

   - ``start = max(t, free)``, ``finish = start + cycles/F_e``;
   - ``finish <= drop``: served (finishing exactly at the cap counts as served), ``free = finish``;
     on time iff ``finish <= t + deadline``, else ``EDGE_LATE``;
   - ``finish > drop``: ``DROPPED``. If ``start < drop`` the task was in service at its drop
     instant, the server wasted ``drop - start`` on it and moves on at ``free = drop``; if
     ``start >= drop`` it was dropped while waiting (abandonment) and consumes nothing
     (``free`` unchanged).

   This is a FIFO queue with abandonment at age ``cap·deadline``, exact in continuous time (the
   simulator drops at the first slot boundary at or after that age; the fluid controller drops
   at the instant, which is optimistic).
4. **Reject on arrival (`fluid_bound_reject`).** Same local step. A task the vehicle cannot take
   is admitted by its server iff the server can finish it by its deadline given the work it has
   already admitted (``max(t, free) + cycles/F_e <= t + deadline``); otherwise it is ``REJECTED``
   on arrival: a miss that consumes no service. Admitted tasks are never late nor dropped.

miss_rate = (late + dropped + rejected + no_server) / arrived.

**In what sense these are bounds.** Against the simulator the controller is optimistic: no
uplink, downlink or backhaul time and no radio; one pooled FIFO per cell at full speed ``F_e``
(no shares a < 1, no energy trade-off, no queue held at the previous server, handover free); a
gap task is served at once by the next cell's server; the drop happens at the exact instant, not
at a slot boundary; no energy cost or budget is charged. ``fluid_bound_reject`` additionally
refuses to waste the server on hopeless tasks, so in practice its miss rate sits below what any
simulator policy attains and is reported as "the lower bound". It is **not** a theorem, even in
the idealised model: the controller is greedy (local first, FIFO, admission on the current state),
and an omniscient scheduler could (a) split one task between the vehicle and the edge (the
simulator's w ∈ (0, 1) runs both parts in parallel, so a task neither side can finish alone may
be on time), (b) serve out of FIFO order (EDF), or (c) reject a task now to save several later
ones. Greedy admission is not even monotone in ``F_e``: doubling the server speed can raise the
reject variant's miss rate (``tests/test_fluid.py`` has a 3-task example). ``fluid_bound`` (no
rejection) is monotone: a faster server never makes any task's outcome worse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

try:
    from numba import njit
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("benchmarks.fluid needs numba: pip install numba (or pip install -e '.[calibrate]')") from exc

# Per-task outcome codes (FluidResult.outcome).
LOCAL = 0  # taken by the vehicle's own CPU (always on time)
EDGE_ON_TIME = 1  # served by the edge by its deadline
EDGE_LATE = 2  # served by the edge after its deadline, before the cap
DROPPED = 3  # removed at age cap·deadline before the edge finished it
REJECTED = 4  # refused on arrival (fluid_bound_reject only)
NO_SERVER = 5  # not taken locally and no server reachable (gap with no cell ahead)
OUTCOME_NAMES = ("local", "edge_on_time", "edge_late", "dropped", "rejected", "no_server")


@dataclass
class ArrivalStream:
    """A recorded arrival stream: per-task arrays of shape (T,), sorted by arrival time.

    ``deadline_s`` is the deadline the task is judged by (already multiplied by any
    ``deadline_scale``). ``cell`` is the server index 0..S-1 of the cell the vehicle is in at
    arrival, -1 in a coverage gap; ``next_cell`` (optional, same shape) is the server of the next
    cell the vehicle reaches, read only where ``cell == -1`` (-1 there: no cell ahead). Without
    ``next_cell``, gap tasks go to server 0 when ``n_servers == 1`` and are an error otherwise.
    ``vehicle`` holds unique vehicle ids (any integers). A task whose age reaches
    ``cap·deadline_s`` is dropped (``cap >= 1``).
    """

    t_arr_s: np.ndarray
    vehicle: np.ndarray
    cell: np.ndarray
    cycles: np.ndarray
    deadline_s: np.ndarray
    vehicle_cpu_hz: float
    edge_cpu_hz: float
    n_servers: int
    cap: float = 3.0
    next_cell: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.t_arr_s = np.ascontiguousarray(self.t_arr_s, dtype=np.float64)
        self.vehicle = np.ascontiguousarray(self.vehicle, dtype=np.int64)
        self.cell = np.ascontiguousarray(self.cell, dtype=np.int64)
        self.cycles = np.ascontiguousarray(self.cycles, dtype=np.float64)
        self.deadline_s = np.ascontiguousarray(self.deadline_s, dtype=np.float64)
        if self.next_cell is not None:
            self.next_cell = np.ascontiguousarray(self.next_cell, dtype=np.int64)
        self.vehicle_cpu_hz = float(self.vehicle_cpu_hz)
        self.edge_cpu_hz = float(self.edge_cpu_hz)
        self.cap = float(self.cap)
        if int(self.n_servers) != self.n_servers:
            raise ValueError(f"n_servers must be an integer, got {self.n_servers!r}")
        self.n_servers = int(self.n_servers)

        n = self.t_arr_s.shape
        if len(n) != 1:
            raise ValueError(f"t_arr_s must be 1-D, got shape {n}")
        arrays = {"vehicle": self.vehicle, "cell": self.cell, "cycles": self.cycles, "deadline_s": self.deadline_s}
        if self.next_cell is not None:
            arrays["next_cell"] = self.next_cell
        for name, arr in arrays.items():
            if arr.shape != n:
                raise ValueError(f"{name} has shape {arr.shape}, t_arr_s has {n}")
        if not np.all(np.isfinite(self.t_arr_s)):
            raise ValueError("t_arr_s must be finite")
        if np.any(np.diff(self.t_arr_s) < 0):
            raise ValueError("t_arr_s must be sorted (non-decreasing)")
        if not np.all(np.isfinite(self.cycles)) or np.any(self.cycles < 0):
            raise ValueError("cycles must be finite and >= 0")
        if not np.all(np.isfinite(self.deadline_s)) or np.any(self.deadline_s <= 0):
            raise ValueError("deadline_s must be finite and > 0")
        for name, hz in (("vehicle_cpu_hz", self.vehicle_cpu_hz), ("edge_cpu_hz", self.edge_cpu_hz)):
            if not np.isfinite(hz) or hz <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {hz!r}")
        if self.n_servers < 1:
            raise ValueError(f"n_servers must be >= 1, got {self.n_servers}")
        if not np.isfinite(self.cap) or self.cap < 1:
            raise ValueError(f"cap must be finite and >= 1, got {self.cap!r}")
        for name in ("cell", "next_cell"):
            arr = getattr(self, name)
            if arr is not None and arr.size and (arr.min() < -1 or arr.max() >= self.n_servers):
                raise ValueError(f"{name} must lie in -1..{self.n_servers - 1}")
        if self.next_cell is None and self.n_servers > 1 and np.any(self.cell < 0):
            raise ValueError("tasks in a coverage gap (cell == -1) need next_cell when n_servers > 1")

    def __len__(self) -> int:
        return int(self.t_arr_s.shape[0])

    def server(self) -> np.ndarray:
        """The server each task would be sent to: its cell, else next_cell / 0 in a gap; -1: none."""
        gap = self.cell < 0
        if self.next_cell is not None:
            return np.where(gap, self.next_cell, self.cell)
        return np.where(gap, 0, self.cell)  # validated: n_servers == 1 if there are gap tasks


@dataclass
class FluidResult:
    """Counts of one fluid controller over a stream; ``outcome``/``finish_s`` are per task.

    ``finish_s`` is the completion time (local or edge), NaN for dropped, rejected and no-server
    tasks. ``local_share`` / ``edge_share``: fractions of the arrived tasks the vehicles took and
    the edge took (served or dropped); the rest were rejected or had no server.
    """

    arrived: int
    on_time: int
    late: int
    dropped: int
    rejected: int
    no_server: int
    local: int
    edge: int
    miss_rate: float
    local_share: float
    edge_share: float
    outcome: np.ndarray = field(repr=False)
    finish_s: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The scalar fields (no per-task arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("outcome", "finish_s")}


@njit(cache=True)
def _local_admit(t, vid, service, due, n_vehicles):
    """Per-vehicle FIFO admission: take task i iff max(t, free[v]) + service <= due. Returns (took, finish)."""
    n = t.shape[0]
    free = np.full(n_vehicles, -np.inf)
    took = np.zeros(n, dtype=np.bool_)
    finish = np.full(n, np.nan)
    for i in range(n):
        v = vid[i]
        fin = max(t[i], free[v]) + service[i]
        if fin <= due[i]:
            took[i] = True
            finish[i] = fin
            free[v] = fin
    return took, finish


@njit(cache=True)
def _edge_fifo(t, server, service, due, drop, n_servers, reject):
    """Per-server FIFO, with abandonment at ``drop`` (reject=False) or admission by ``due`` (reject=True).

    Returns (outcome code per task, finish time or NaN). Tasks are processed in array order.
    """
    n = t.shape[0]
    free = np.full(n_servers, -np.inf)
    outcome = np.empty(n, dtype=np.int8)
    finish = np.full(n, np.nan)
    for i in range(n):
        k = server[i]
        start = max(t[i], free[k])
        fin = start + service[i]
        if reject:
            if fin <= due[i]:
                outcome[i] = 1  # EDGE_ON_TIME
                finish[i] = fin
                free[k] = fin
            else:
                outcome[i] = 4  # REJECTED
        elif fin <= drop[i]:
            outcome[i] = 1 if fin <= due[i] else 2  # EDGE_ON_TIME / EDGE_LATE
            finish[i] = fin
            free[k] = fin
        else:
            outcome[i] = 3  # DROPPED
            free[k] = max(start, drop[i])
    return outcome, finish


def _run(stream: ArrivalStream, reject: bool) -> FluidResult:
    n = len(stream)
    t = stream.t_arr_s
    due = t + stream.deadline_s
    _, vid = np.unique(stream.vehicle, return_inverse=True)
    vid = np.ascontiguousarray(vid.reshape(-1), dtype=np.int64)
    n_vehicles = int(vid.max()) + 1 if n else 0
    took, finish = _local_admit(t, vid, stream.cycles / stream.vehicle_cpu_hz, due, n_vehicles)

    outcome = np.full(n, LOCAL, dtype=np.int8)
    server = stream.server()
    outcome[~took & (server < 0)] = NO_SERVER
    edge = np.flatnonzero(~took & (server >= 0))
    te = np.ascontiguousarray(t[edge])
    drop = te + stream.cap * stream.deadline_s[edge]
    e_out, e_fin = _edge_fifo(
        te,
        np.ascontiguousarray(server[edge], dtype=np.int64),
        np.ascontiguousarray(stream.cycles[edge] / stream.edge_cpu_hz),
        np.ascontiguousarray(due[edge]),
        drop,
        stream.n_servers,
        reject,
    )
    outcome[edge] = e_out
    finish[edge] = e_fin

    c = np.bincount(outcome, minlength=len(OUTCOME_NAMES))
    n_local, on_edge, late, dropped, rejected, no_server = (int(x) for x in c)
    misses = late + dropped + rejected + no_server
    share = (lambda k: k / n) if n else (lambda k: float("nan"))
    return FluidResult(
        arrived=n,
        on_time=n_local + on_edge,
        late=late,
        dropped=dropped,
        rejected=rejected,
        no_server=no_server,
        local=n_local,
        edge=on_edge + late + dropped,
        miss_rate=share(misses),
        local_share=share(n_local),
        edge_share=share(on_edge + late + dropped),
        outcome=outcome,
        finish_s=finish,
    )


def fluid_bound(stream: ArrivalStream) -> FluidResult:
    """The fluid controller whose edge FIFOs never abandon a task (drop only at age cap·deadline)."""
    return _run(stream, reject=False)


def fluid_bound_reject(stream: ArrivalStream) -> FluidResult:
    """The same controller, rejecting on arrival each task neither the vehicle nor its server can
    finish by its deadline (the reported lower bound; see the module docstring for its limits)."""
    return _run(stream, reject=True)
