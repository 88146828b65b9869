"""The fluid bounds of DESIGN §2 (benchmarks.fluid): hand-computed streams, the numba kernels
against plain-Python references written differently (dicts per vehicle, an event-driven queue per
server), and the monotonicity of the no-reject bound in the edge speed."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

pytest.importorskip("numba")

from benchmarks.fluid import (
    DROPPED,
    EDGE_LATE,
    EDGE_ON_TIME,
    LOCAL,
    NO_SERVER,
    OUTCOME_NAMES,
    REJECTED,
    ArrivalStream,
    fluid_bound,
    fluid_bound_reject,
)

# ---------------------------------------------------------------------------------------------
# Plain-Python references


def ref_local(t, vehicle, cycles, deadline, f_v):
    """Each vehicle a FIFO; a dict of its free time; take iff the task finishes by its deadline."""
    free: dict[int, float] = {}
    took, finish = [], []
    for ti, v, c, d in zip(t, vehicle, cycles, deadline, strict=True):
        start = max(ti, free.get(int(v), -np.inf))
        end = start + c / f_v
        if end <= ti + d:
            free[int(v)] = end
            took.append(True)
            finish.append(end)
        else:
            took.append(False)
            finish.append(np.nan)
    return np.array(took, dtype=bool), np.array(finish)


def ref_edge_abandon(idx, t, service, due, drop):
    """One server, event by event: a queue of waiting tasks; when the server is free it first
    removes every waiting task whose drop instant has passed, then serves the head, which is
    dropped (work wasted) if its drop instant comes before it finishes."""
    out, fin = {}, {}
    waiting: deque[int] = deque()
    now, p = -np.inf, 0
    while p < len(idx) or waiting:
        while p < len(idx) and t[idx[p]] <= now:
            waiting.append(idx[p])
            p += 1
        for j in [j for j in waiting if drop[j] < now]:
            out[j] = DROPPED
        waiting = deque(j for j in waiting if drop[j] >= now)
        if not waiting:
            if p < len(idx):
                now = t[idx[p]]
            continue
        j = waiting.popleft()
        end = now + service[j]
        if end <= drop[j]:
            out[j] = EDGE_ON_TIME if end <= due[j] else EDGE_LATE
            fin[j] = end
            now = end
        else:
            out[j] = DROPPED
            now = drop[j]
    return out, fin


def ref_edge_reject(idx, t, service, deadline):
    """One server, admission by backlog: the admitted work not yet done at the arrival instant
    (the in-service remainder plus the waiting tasks) plus the task's own service must fit in
    its deadline."""
    out, fin = {}, {}
    admitted: list[tuple[float, float]] = []  # (start, end) of the admitted tasks, in order
    for j in idx:
        backlog = sum(end - max(start, t[j]) for start, end in admitted if end > t[j])
        if backlog + service[j] <= deadline[j]:
            end = t[j] + backlog + service[j]
            admitted.append((end - service[j], end))
            out[j], fin[j] = EDGE_ON_TIME, end
        else:
            out[j] = REJECTED
    return out, fin


def ref_fluid(s: ArrivalStream, reject: bool):
    """Per-task outcome codes and finish times of the whole controller, from the references."""
    n = len(s)
    took, finish = ref_local(s.t_arr_s, s.vehicle, s.cycles, s.deadline_s, s.vehicle_cpu_hz)
    outcome = np.full(n, LOCAL, dtype=np.int8)
    for i in range(n):
        if took[i]:
            continue
        k = s.cell[i]
        if k < 0:
            k = s.next_cell[i] if s.next_cell is not None else 0
        if k < 0:
            outcome[i] = NO_SERVER
    service = s.cycles / s.edge_cpu_hz
    due = s.t_arr_s + s.deadline_s
    drop = s.t_arr_s + s.cap * s.deadline_s
    for k in range(s.n_servers):
        idx = []
        for i in range(n):
            if took[i] or outcome[i] == NO_SERVER:
                continue
            srv = s.cell[i] if s.cell[i] >= 0 else (s.next_cell[i] if s.next_cell is not None else 0)
            if srv == k:
                idx.append(i)
        if reject:
            out, fin = ref_edge_reject(idx, s.t_arr_s, service, s.deadline_s)
        else:
            out, fin = ref_edge_abandon(idx, s.t_arr_s, service, due, drop)
        for j in idx:
            outcome[j] = out[j]
            finish[j] = fin.get(j, np.nan)
    return outcome, finish


# ---------------------------------------------------------------------------------------------
# Helpers


def stream(t, cycles, deadline, *, vehicle=None, cell=None, next_cell=None, f_v=1.0, f_e=1.0, s=1, cap=3.0):
    n = len(t)
    return ArrivalStream(
        t_arr_s=np.asarray(t, float),
        vehicle=np.zeros(n, int) if vehicle is None else np.asarray(vehicle),
        cell=np.zeros(n, int) if cell is None else np.asarray(cell),
        cycles=np.asarray(cycles, float),
        deadline_s=np.asarray(deadline, float),
        vehicle_cpu_hz=f_v,
        edge_cpu_hz=f_e,
        n_servers=s,
        cap=cap,
        next_cell=None if next_cell is None else np.asarray(next_cell),
    )


def random_stream(rng: np.random.Generator, n: int = 3000, load: float = 1.0) -> ArrivalStream:
    """Several vehicles with sparse unique ids, 3 servers with gaps, 3 task types, tied arrivals."""
    n_veh, n_srv = 25, 3
    ids = rng.choice(10**9, size=n_veh, replace=False)
    t = np.round(np.cumsum(rng.exponential(0.01, n)), 2)  # rounding makes ties
    kind = rng.integers(0, 3, n)
    deadline = np.array([0.1, 0.5, 2.0])[kind]
    cycles = np.array([4e8, 1.5e9, 3e9])[kind] * rng.lognormal(0.0, 0.6, n)
    cell = rng.integers(0, n_srv, n)
    cell[rng.random(n) < 0.1] = -1
    next_cell = rng.integers(-1, n_srv, n)  # -1: no cell ahead
    # mean cycles ≈ 1.9e9 at 100 tasks/s ≈ 1.9e11 cycles/s over 3 servers (edge) + 25 vehicles (local)
    return ArrivalStream(
        t_arr_s=t,
        vehicle=ids[rng.integers(0, n_veh, n)],
        cell=cell,
        next_cell=next_cell,
        cycles=cycles,
        deadline_s=deadline,
        vehicle_cpu_hz=3e9,
        edge_cpu_hz=1.2e11 / (3 * load),
        n_servers=n_srv,
        cap=3.0,
    )


def counts(res) -> dict[str, int]:
    return {k: res.as_dict()[k] for k in ("on_time", "late", "dropped", "rejected", "no_server", "local", "edge")}


# ---------------------------------------------------------------------------------------------
# Hand-computed streams


def test_local_first_then_edge_when_the_vehicle_cannot_make_it():
    # f_v = 1 GHz, F_e = 10 GHz. A: 0.5 s locally, done at 0.5. B (t=0.1): local would end at 1.3 >
    # 1.1, so edge: 0.08 s, done at 0.18. C (t=0.2): local from 0.5, done at 0.8 <= 1.2.
    s = stream([0.0, 0.1, 0.2], [0.5e9, 0.8e9, 0.3e9], [1.0, 1.0, 1.0], f_v=1e9, f_e=10e9)
    r = fluid_bound(s)
    assert r.outcome.tolist() == [LOCAL, EDGE_ON_TIME, LOCAL]
    np.testing.assert_allclose(r.finish_s, [0.5, 0.18, 0.8])
    assert (r.arrived, r.on_time, r.local, r.edge, r.miss_rate) == (3, 3, 2, 1, 0.0)
    assert r.local_share == pytest.approx(2 / 3) and r.edge_share == pytest.approx(1 / 3)


def test_local_admission_is_per_vehicle_and_exact_at_the_deadline():
    # Two vehicles, one task each at t=0 of exactly the deadline's work: both local (ties count).
    # A third task of vehicle 7 at t=0.25 would end at 1.25 > 1.0: edge.
    s = stream([0.0, 0.0, 0.25], [1.0, 1.0, 0.25], [1.0, 1.0, 0.75], vehicle=[7, 9, 7], f_v=1.0, f_e=4.0)
    r = fluid_bound(s)
    assert r.outcome.tolist() == [LOCAL, LOCAL, EDGE_ON_TIME]
    assert r.finish_s.tolist() == [1.0, 1.0, 0.3125]


# Edge only (f_v tiny), F_e = 1 so cycles are seconds, cap = 3:
#   A t=0   s=10 d=1   drop 3:   in service at 3 -> dropped, server free at 3
#   B t=0.5 s=1  d=4   due 4.5:  starts 3, ends 4 -> on time (without the drop it would end at 11)
#   C t=1   s=1  d=0.5 drop 2.5: still waiting at 4 -> dropped while waiting, consumes nothing
#   D t=2   s=1  d=3   due 5:    starts 4, ends 5 = due -> on time (C did not delay it)
#   E t=3   s=1  d=1.5 due 4.5:  starts 5, ends 6 <= drop 7.5 -> late
EDGE = {"t": [0.0, 0.5, 1.0, 2.0, 3.0], "cycles": [10.0, 1.0, 1.0, 1.0, 1.0], "deadline": [1.0, 4.0, 0.5, 3.0, 1.5]}


def test_edge_fifo_drops_at_the_cap_and_the_next_task_makes_its_deadline():
    r = fluid_bound(stream(EDGE["t"], EDGE["cycles"], EDGE["deadline"], f_v=1e-6))
    assert r.outcome.tolist() == [DROPPED, EDGE_ON_TIME, DROPPED, EDGE_ON_TIME, EDGE_LATE]
    np.testing.assert_equal(r.finish_s, [np.nan, 4.0, np.nan, 5.0, 6.0])
    assert (r.on_time, r.late, r.dropped, r.rejected, r.local, r.edge) == (2, 1, 2, 0, 0, 5)
    assert r.miss_rate == pytest.approx(3 / 5)


def test_a_larger_cap_lets_the_long_task_finish_late():
    # cap = 11: A (drop at 11) ends at 10, late; B then starts at 10, ends 11 > due 4.5, late.
    r = fluid_bound(stream(EDGE["t"], EDGE["cycles"], EDGE["deadline"], f_v=1e-6, cap=11.0))
    assert r.outcome[:2].tolist() == [EDGE_LATE, EDGE_LATE]
    assert r.finish_s[:2].tolist() == [10.0, 11.0]


def test_finishing_exactly_at_the_cap_counts_as_served():
    # A: s=3, d=1, cap 3: ends at 3 = drop instant -> late, not dropped. B (t=0, s=1, d=4) then
    # starts at 3 and ends at 4 <= due 4: on time.
    r = fluid_bound(stream([0.0, 0.0], [3.0, 1.0], [1.0, 4.0], f_v=1e-6))
    assert r.outcome.tolist() == [EDGE_LATE, EDGE_ON_TIME]
    assert r.finish_s.tolist() == [3.0, 4.0]


def test_outcomes_do_not_depend_on_the_time_origin():
    # Shifting every arrival by -1000 s changes nothing (servers and CPUs start idle, not at t=0).
    s = random_stream(np.random.default_rng(3), n=1000, load=1.2)
    early = ArrivalStream(**{**s.__dict__, "t_arr_s": s.t_arr_s - 1000.0})
    for fn in (fluid_bound, fluid_bound_reject):
        assert np.array_equal(fn(s).outcome, fn(early).outcome)


def test_reject_on_arrival():
    # A: 10 > 1 rejected, consumes nothing. B: 0.5 -> 1.5. C: 1.5 -> 2.5 > due 1.5 rejected.
    # D: 2 -> 3 on time. E: 3 -> 4 <= 4.5 on time.
    r = fluid_bound_reject(stream(EDGE["t"], EDGE["cycles"], EDGE["deadline"], f_v=1e-6))
    assert r.outcome.tolist() == [REJECTED, EDGE_ON_TIME, REJECTED, EDGE_ON_TIME, EDGE_ON_TIME]
    np.testing.assert_equal(r.finish_s, [np.nan, 1.5, np.nan, 3.0, 4.0])
    assert (r.on_time, r.late, r.dropped, r.rejected, r.edge) == (3, 0, 0, 2, 3)
    assert r.miss_rate == pytest.approx(2 / 5) and r.edge_share == pytest.approx(3 / 5)


def test_servers_are_separate_and_gap_tasks_go_to_the_next_cell():
    # Two tasks of 1 s at t=0 with d=1 on different servers: both on time (a pooled server would
    # miss one). A gap task heading to server 1 queues behind server 1's task: ends 2 > due 1.5,
    # late. A gap task with no cell ahead: no server.
    s = stream(
        [0.0, 0.0, 0.5, 0.5],
        [1.0, 1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0],
        vehicle=[1, 2, 3, 4],
        cell=[0, 1, -1, -1],
        next_cell=[-1, -1, 1, -1],
        f_v=1e-6,
        s=2,
    )
    r = fluid_bound(s)
    assert r.outcome.tolist() == [EDGE_ON_TIME, EDGE_ON_TIME, EDGE_LATE, NO_SERVER]
    assert (r.no_server, r.edge, r.miss_rate) == (1, 3, 0.5)
    # With one server and no next_cell, a gap task goes to server 0.
    r1 = fluid_bound(stream([0.0], [1.0], [1.0], cell=[-1], f_v=1e-6))
    assert r1.outcome.tolist() == [EDGE_ON_TIME]


def test_reject_bound_is_not_monotone_in_edge_speed():
    # Greedy admission is not optimal: at F_e = 1 the long task A is rejected and B, C fit; at
    # F_e = 2 A fits and blocks B and C. (So the "lower bound" is a reference, not a theorem.)
    args = ([0.0, 0.1, 0.2], [1.5, 0.2, 0.2], [1.0, 0.3, 0.31])
    slow = fluid_bound_reject(stream(*args, vehicle=[1, 2, 3], f_v=1e-6, f_e=1.0))
    fast = fluid_bound_reject(stream(*args, vehicle=[1, 2, 3], f_v=1e-6, f_e=2.0))
    assert slow.outcome.tolist() == [REJECTED, EDGE_ON_TIME, EDGE_ON_TIME]
    assert fast.outcome.tolist() == [EDGE_ON_TIME, REJECTED, REJECTED]
    assert fast.miss_rate > slow.miss_rate


def test_empty_stream():
    r = fluid_bound(stream([], [], []))
    assert r.arrived == 0 and np.isnan(r.miss_rate) and r.outcome.shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": [1.0, 0.0]}, "sorted"),
        ({"cycles": [1.0]}, "shape"),
        ({"cap": 0.5}, "cap"),
        ({"cell": [0, 2], "s": 2}, "cell"),
        ({"cell": [-1, 0], "s": 2}, "next_cell"),
        ({"deadline": [1.0, 0.0]}, "deadline"),
        ({"f_e": 0.0}, "edge_cpu_hz"),
    ],
)
def test_bad_streams_are_refused(kwargs, match):
    args = {"t": [0.0, 1.0], "cycles": [1.0, 1.0], "deadline": [1.0, 1.0]} | kwargs
    t, c, d = args.pop("t"), args.pop("cycles"), args.pop("deadline")
    with pytest.raises(ValueError, match=match):
        stream(t, c, d, **args)


# ---------------------------------------------------------------------------------------------
# numba kernels against the references; monotonicity


@pytest.mark.parametrize("load", [0.6, 1.2, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_numba_matches_reference_on_random_streams(seed, load):
    s = random_stream(np.random.default_rng(seed), load=load)
    for fn, reject in ((fluid_bound, False), (fluid_bound_reject, True)):
        res = fn(s)
        out, fin = ref_fluid(s, reject)
        np.testing.assert_array_equal(res.outcome, out)
        np.testing.assert_allclose(res.finish_s, fin, rtol=1e-12, atol=1e-9)  # NaN where no finish
        want = np.bincount(out, minlength=len(OUTCOME_NAMES))
        assert res.local == want[LOCAL] and res.late == want[EDGE_LATE] and res.dropped == want[DROPPED]
        assert res.rejected == want[REJECTED] and res.no_server == want[NO_SERVER]
        assert res.on_time == want[LOCAL] + want[EDGE_ON_TIME]
        assert res.on_time + res.late + res.dropped + res.rejected + res.no_server == res.arrived == len(s)


def test_random_streams_exercise_every_outcome():
    seen = set()
    for load in (0.6, 1.2, 3.0):
        s = random_stream(np.random.default_rng(0), load=load)
        seen |= set(fluid_bound(s).outcome.tolist()) | set(fluid_bound_reject(s).outcome.tolist())
    assert seen == set(range(len(OUTCOME_NAMES)))


@pytest.mark.parametrize("seed", range(6))
def test_doubling_the_edge_speed_never_raises_the_miss_rate(seed):
    rng = np.random.default_rng(100 + seed)
    s = random_stream(rng, n=5000, load=float(rng.uniform(0.5, 4.0)))
    fast = ArrivalStream(**{**s.__dict__, "edge_cpu_hz": 2 * s.edge_cpu_hz})
    slow_r, fast_r = fluid_bound(s), fluid_bound(fast)
    assert fast_r.miss_rate <= slow_r.miss_rate
    # Task by task: the local decisions do not change and no on-time task becomes a miss.
    on_time = (slow_r.outcome == LOCAL) | (slow_r.outcome == EDGE_ON_TIME)
    assert np.array_equal(slow_r.outcome == LOCAL, fast_r.outcome == LOCAL)
    assert np.all(fast_r.outcome[on_time] <= EDGE_ON_TIME)
    if seed == 0:
        assert fast_r.miss_rate < slow_r.miss_rate  # the check is not vacuous


def test_reject_bound_is_below_the_plain_bound_on_random_streams():
    # Not a theorem (greedy admission), but on these streams rejection must help.
    for load in (1.2, 3.0):
        s = random_stream(np.random.default_rng(5), load=load)
        assert fluid_bound_reject(s).miss_rate < fluid_bound(s).miss_rate


def test_missing_numba_says_how_to_install_it():
    import subprocess
    import sys

    code = "import sys; sys.modules['numba'] = None; import benchmarks.fluid"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "ImportError" in r.stderr and "pip install numba" in r.stderr
