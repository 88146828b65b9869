"""Issue 14: radio, cells, the FIFO queues and the queue phases give the same numbers on numpy and torch.

One implementation of each function serves both backends (``vecgym.core.xp``): the same random
inputs as numpy arrays and as torch CPU tensors must give identical integer outputs (indices,
counts, serving cells) and only float64, int64 or bool tensors. Where a function uses only
+ - * / max min (the queues, the phases, cells, the task rows) its floats are equal bit for bit
(IEEE arithmetic is correctly rounded in both; the scans add each queue's work in the same order);
the radio functions, through torch's log10 / sqrt / cos, agree within rtol 1e-12 (within 1 ulp
in practice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vecgym.config import VECConfig
from vecgym.core import backend, cells, fifo, phases, radio, taskcols
from vecgym.core.rng import Stream
from vecgym.core.taskcols import (
    EDGE_REM,
    EDGE_T,
    EDGE_W0,
    LOC_DONE,
    LOC_REM,
    REM_DONE,
    RES_REM,
    RES_T,
    UP_REM,
    UPF_T,
)
from vecgym.queues import lindley, segment_last, segment_layout

torch = pytest.importorskip("torch", reason="the torch backend needs torch (pip install torch==2.13.0)")

OK_DTYPES = (torch.float64, torch.int64, torch.bool)
RTOL = 1e-12  # radio: transcendental functions (torch's sqrt / cos differ from numpy's by <= 1 ulp)
EXACT = 0.0  # arithmetic only


def T(a: Any) -> Any:
    """The numpy input as a torch CPU tensor (the same dtype; a copy: the functions update tables in place)."""
    return torch.tensor(np.asarray(a))


def check_same(ref: Any, out: Any, *, rtol: float = EXACT, name: str = "") -> None:
    """``out`` (torch) against ``ref`` (numpy): a tensor of an allowed dtype, the same shape and dtype,
    integers and booleans equal, floats within ``rtol`` with infinities and NaNs in the same places."""
    assert isinstance(out, torch.Tensor), (name, type(out))
    assert out.dtype in OK_DTYPES, (name, out.dtype)
    ref = np.asarray(ref)
    got = out.numpy()
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    assert got.dtype == ref.dtype, (name, got.dtype, ref.dtype)
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=name)
    else:
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref), err_msg=name)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0.0, err_msg=name)


def both(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[Any, Any]:
    """``fn`` on the array arguments as numpy arrays and as torch tensors (other arguments as given)."""
    t_args = [T(a) if isinstance(a, np.ndarray) else a for a in args]
    return fn(*args, **kw), fn(*t_args, **kw)


CORRIDOR = VECConfig.from_kwargs(preset="corridor", radio_map_drift_s=30.0)
PAPER = VECConfig.from_kwargs(preset="paper")
TUNNEL = VECConfig.from_kwargs(preset="corridor", tunnels=((2000.0, 2300.0), (4950.0, 5100.0)))


# ---------------------------------------------------------------------------------------------
# radio
# ---------------------------------------------------------------------------------------------
def test_path_loss_noise_rate_and_distances() -> None:
    gen = np.random.default_rng(0)
    d = np.concatenate([gen.uniform(0.0, 3000.0, 2000), [0.0, 0.5, 1.0, 70.0]])
    check_same(*both(radio.path_loss_db, d, 5.9e9), rtol=RTOL, name="path_loss_db")
    band = gen.uniform(0.0, 2e7, 500)
    band[:5] = 0.0
    for cfg in (PAPER, CORRIDOR):  # noise "fixed" and "thermal"
        check_same(*both(radio.noise_w, band, cfg), rtol=RTOL, name=f"noise_w {cfg.noise_model}")
        check_same(*both(radio.mean_snr_db, d, gen.normal(0.0, 4.0, d.shape), cfg), rtol=RTOL, name="mean_snr_db")
        x, y = gen.uniform(-100.0, cfg.road_length_m + 100.0, 300), gen.uniform(0.0, 12.0, 300)
        check_same(*both(radio.nearest_rsu_distance_m, x, y, cfg), rtol=RTOL, name="nearest_rsu_distance_m")
        rsu = np.asarray(cfg.rsu_x_m)[gen.integers(0, cfg.n_servers, 300)]
        check_same(*both(radio.distance_m, x, y, rsu, cfg.antenna_height_m), rtol=RTOL, name="distance_m")
        # The RSU positions may stay a host array: they are moved to the tensor's device.
        check_same(
            radio.distance_m(x, y, rsu, 25.0), radio.distance_m(T(x), T(y), rsu, 25.0), rtol=RTOL, name="host rsu"
        )
    snr = 10.0 ** gen.uniform(-3.0, 4.0, 500)
    check_same(*both(radio.rate_bps, band, snr, 7.4), rtol=RTOL, name="rate_bps")


def test_bessel_j0_and_fading_rho() -> None:
    gen = np.random.default_rng(1)
    x = np.concatenate([gen.uniform(-10.0, 600.0, 5000), [0.0, 3.0, np.nextafter(3.0, 4.0), -3.0, 1e6]])
    check_same(*both(radio.bessel_j0, x), rtol=RTOL, name="bessel_j0")
    check_same(*both(radio.bessel_j0, x.reshape(5, -1)), rtol=RTOL, name="bessel_j0 2-D")
    v = gen.uniform(0.0, 45.0, (3, 17))
    check_same(*both(radio.fading_rho, v, CORRIDOR), rtol=RTOL, name="fading_rho")


def test_fading_and_radio_map_draw_drift_and_lookup() -> None:
    gen = np.random.default_rng(2)
    seeds, slot = np.array([3, -11, 2**40]), np.array([0, 7, 12345])
    vid = gen.integers(-1, 1000, (3, 20))
    check_same(
        *both(radio.fading_draw, seeds[:, None], slot[:, None], vid, Stream.FADING), rtol=RTOL, name="fading_draw"
    )
    for cfg in (PAPER, CORRIDOR):
        ref_map, t_map = both(radio.draw_radio_map, seeds, cfg)
        check_same(ref_map, t_map, rtol=RTOL, name="draw_radio_map")
        n = 3000
        road, lane = gen.integers(0, 3, n), gen.integers(0, cfg.n_lanes, n)
        server = gen.integers(0, cfg.n_servers, n)
        x = gen.uniform(-200.0, cfg.road_length_m + 200.0, n)
        x[:10] = cfg.radio_map_grid_m * np.arange(10)  # on grid points
        check_same(
            radio.map_shadowing_db(ref_map, road, server, lane, x, cfg),
            radio.map_shadowing_db(t_map, T(road), T(server), T(lane), T(x), cfg),
            rtol=RTOL,
            name="map_shadowing_db",
        )
    drift_cfg = CORRIDOR
    ref_map = radio.draw_radio_map(seeds, drift_cfg)
    check_same(*both(radio.drift_radio_map, ref_map, seeds, slot, drift_cfg), rtol=RTOL, name="drift_radio_map")


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [PAPER, CORRIDOR, TUNNEL], ids=["paper", "corridor", "tunnels"])
def test_serving_cell_and_distance_to_change(cfg: VECConfig) -> None:
    gen = np.random.default_rng(3)
    x = gen.uniform(-50.0, cfg.road_length_m + 50.0, (4, 300))
    edges, _, _ = cells.change_points(cfg)
    x[0, : edges.shape[0]] = edges  # exactly on the change points
    ref_cell, t_cell = both(cells.serving_cell, x, cfg)
    check_same(ref_cell, t_cell, name="serving_cell")
    check_same(
        cells.distance_to_change_m(x, ref_cell, cfg),
        cells.distance_to_change_m(T(x), t_cell, cfg),
        name="distance_to_change_m",
    )


def random_tasks(gen: np.random.Generator, n_rows: int, n_g: int, n_types: int, t0_g: np.ndarray) -> np.ndarray:
    """A task table in every state the phases meet: new, partly uploaded, forwarded, at the edge,
    results waiting or downloading, done. Arrival times on a coarse grid: many ties."""
    g = gen.integers(0, n_g, n_rows)
    typ = gen.integers(0, n_types, n_rows)
    t_arr = t0_g[g] + np.round(gen.uniform(-0.3, 0.1, n_rows), 2)
    w = gen.uniform(0.0, 1.0, n_rows)
    w[gen.random(n_rows) < 0.2] = 0.0
    w[gen.random(n_rows) < 0.2] = 1.0
    cycles = gen.exponential(2e8, n_rows)
    size = gen.uniform(1e4, 5e5, n_rows)
    ratio = gen.uniform(0.05, 0.5, n_types)
    tasks = taskcols.new_rows(g.astype(np.float64), typ, t_arr, cycles, w, size, ratio)
    old = t_arr < t0_g[g]
    off = tasks[:, EDGE_W0] > 0.0
    state = gen.integers(0, 6, n_rows)
    # 1: partly uploaded; 2: uploaded, at the edge; 3: partly served; 4: result waiting; 5: delivered
    part = old & off & (state == 1)
    tasks[part, UP_REM] *= gen.uniform(0.1, 0.9, part.sum())
    fwd = part & (gen.random(n_rows) < 0.3)
    tasks[fwd, UPF_T] = t0_g[g[fwd]] + gen.uniform(-0.05, 0.15, fwd.sum())
    up = old & off & (state >= 2)
    tasks[up, UP_REM] = 0.0
    tasks[up, EDGE_T] = np.round(t0_g[g[up]] + gen.uniform(-0.2, 0.15, up.sum()), 2)
    served = up & (state == 3)
    tasks[served, EDGE_REM] *= gen.uniform(0.1, 0.9, served.sum())
    res = up & (state >= 4)
    tasks[res, EDGE_REM] = 0.0
    tasks[res, RES_T] = np.round(t0_g[g[res]] + gen.uniform(-0.2, 0.15, res.sum()), 2)
    dl = res & (state == 4) & (gen.random(n_rows) < 0.4)
    tasks[dl, RES_REM] *= gen.uniform(0.1, 0.9, dl.sum())
    done = res & (state == 5)
    tasks[done, RES_REM] = 0.0
    tasks[done, REM_DONE] = tasks[done, RES_T] + 0.01
    loc_done = old & (gen.random(n_rows) < 0.3)
    tasks[loc_done, LOC_REM] = 0.0
    tasks[loc_done, LOC_DONE] = t0_g[g[loc_done]] - 0.01
    return tasks


@pytest.mark.parametrize("seed", range(3))
def test_migrate_handover(seed: int) -> None:
    gen = np.random.default_rng(10 + seed)
    cfg = CORRIDOR
    B, M, K, S = 3, 12, 3, cfg.n_servers
    t_s = np.array([10.0, 20.5, 7.3])
    t0_g = np.repeat(t_s, M)
    tasks = random_tasks(gen, 600, B * M, K, t0_g)
    moving_g = np.sort(gen.choice(B * M, 15, replace=False))
    src = np.asarray(gen.integers(0, S, moving_g.shape[0]))
    dst = np.clip(src + gen.choice([-2, -1, 1, 2], moving_g.shape[0]), 0, S - 1)
    dst = np.asarray(np.where(dst == src, (src + 1) % S, dst))
    link_free = np.repeat(t_s, S - 1).reshape(B, S - 1) + gen.uniform(-0.1, 0.1, (B, S - 1))
    t_tasks = T(tasks)
    ref = cells.migrate(tasks, moving_g, src, dst, t_s, link_free, M, cfg)
    out = cells.migrate(t_tasks, T(moving_g), T(src), T(dst), T(t_s), T(link_free), M, cfg)
    assert ref.handovers.sum() == moving_g.shape[0] and ref.bytes.sum() > 0.0
    for field in ("handovers", "bytes", "energy_j", "link_free_s"):
        check_same(getattr(ref, field), getattr(out, field), name=field)
    check_same(tasks, t_tasks, name="tasks after migrate")


# ---------------------------------------------------------------------------------------------
# queues and fifo
# ---------------------------------------------------------------------------------------------
def test_segment_layout_lindley_and_segment_last() -> None:
    gen = np.random.default_rng(4)
    m, n_q = 2000, 150  # > 64 queues: numpy's row-loop scan; torch's cumsum / cummax
    seg = np.sort(gen.integers(0, n_q, m))
    ref, out = both(segment_layout, seg)
    for i, name in enumerate(("labels", "starts", "row", "col")):
        check_same(ref[i], out[i], name=name)
    assert ref[4] == out[4] and isinstance(out[4], int)
    arrival = 5.0 + np.round(gen.random(m), 2)
    work = gen.exponential(1e9, m) * (1.0 + 1e5 * (seg % 2))
    rate, free = gen.exponential(1e10, n_q), 5.0 + gen.random(n_q)
    for sl in (slice(None), slice(0, 90)):  # many queues, and under 64 (numpy's accumulate)
        s = seg[sl]
        ref_l, out_l = both(lindley, s, arrival[sl], work[sl], rate, free)
        check_same(ref_l[0], out_l[0], name="lindley done")
        check_same(ref_l[1], out_l[1], name="lindley cum_work")
    check_same(*both(lambda s, v: segment_last(s, v)[1], seg, arrival), name="segment_last")
    empty = lindley(T(seg[:0]), T(arrival[:0]), T(work[:0]), T(rate), T(free))
    assert empty[0].shape == (0,) and empty[0].dtype == torch.float64


@pytest.mark.parametrize("seed", range(4))
def test_fifo_slot_with_many_ties(seed: int) -> None:
    gen = np.random.default_rng(seed)
    n_q, m = 40, 3000
    queue = gen.integers(0, n_q, m)
    order = np.round(gen.random(m), 1)  # ten distinct keys: the table's row order decides ties
    order[::13] = 0.0
    t0 = np.full(n_q, 5.0) + gen.random(n_q) * 1e-3
    arrival = np.maximum(t0[queue] + gen.random(m) * 0.1 * (gen.random(m) < 0.7), t0[queue])
    work = gen.exponential(1e9, m) * (1.0 + 1e5 * (queue % 2))
    work[::17] = 0.0
    rate = gen.exponential(1e10, n_q)
    rate[::7] = 0.0  # queues that serve nothing
    horizon = t0[queue] + 0.1
    horizon[gen.random(m) < 0.1] = np.inf
    horizon[gen.random(m) < 0.1] -= 0.07
    ref, out = both(fifo.fifo_slot, queue, order, arrival, work, rate, t0, horizon)
    assert np.isinf(ref[0]).any()
    check_same(ref[0], out[0], name="done")
    check_same(ref[1], out[1], name="left")
    empty = fifo.fifo_slot(T(queue[:0]), *(T(order[:0]),) * 3, T(rate), T(t0), T(order[:0]))
    assert empty[0].shape == (0,) and empty[1].dtype == torch.float64


# ---------------------------------------------------------------------------------------------
# the queue phases on random task tables
# ---------------------------------------------------------------------------------------------
def test_new_rows() -> None:
    gen = np.random.default_rng(5)
    n, K = 500, 4
    w = gen.uniform(0.0, 1.0, n)
    w[::4], w[1::4] = 0.0, 1.0
    args = (
        gen.integers(0, 90, n),
        gen.integers(0, K, n),
        gen.uniform(0.0, 1.0, n),
        gen.exponential(1e8, n),
        w,
        gen.uniform(1e3, 1e6, n),
        gen.uniform(0.1, 0.5, K),
    )
    ref, out = both(taskcols.new_rows, *args)
    check_same(ref, out, name="new_rows")
    # the result ratios may stay a host array (moved to the tensor's device)
    g, typ, t_arr, cycles, w, size, ratio = args
    host_ratio = taskcols.new_rows(T(g), T(typ), T(t_arr), T(cycles), T(w), T(size), ratio)
    check_same(ref, host_ratio, name="new_rows host ratio")


@pytest.mark.parametrize("seed", range(4))
def test_queue_phases_on_random_tables(seed: int) -> None:
    gen = np.random.default_rng(20 + seed)
    B, M, K = 3, 15, 3
    n_g = B * M
    t_s = np.array([10.0, 20.5, 7.3])
    t0_g = np.repeat(t_s, M)
    t1_g = t0_g + 0.1
    tcut_g = np.where(gen.random(n_g) < 0.15, t0_g + np.round(gen.random(n_g) * 0.1, 2), t1_g)
    horizon_g = np.where(tcut_g < t1_g, np.inf, t1_g)
    r_up = gen.exponential(2e7, n_g) * (gen.random(n_g) < 0.85)
    r_q = gen.exponential(5e9, n_g * K) * (gen.random(n_g * K) < 0.85)
    r_dl = gen.exponential(5e7, n_g) * (gen.random(n_g) < 0.9)
    ref = random_tasks(gen, 800, n_g, K, t0_g)
    out = T(ref)
    t = {k: T(v) for k, v in dict(t0_g=t0_g, t1_g=t1_g, tcut_g=tcut_g, horizon_g=horizon_g).items()}
    for col in (LOC_REM, UP_REM, EDGE_REM, RES_REM):
        check_same(backend.rows_per_vehicle(ref, col, n_g), backend.rows_per_vehicle(out, col, n_g), name="rows")
    before = ref.copy()
    served = {}
    for name, run_ref, run_out in [
        (
            "local",
            lambda: phases.local_phase(ref, t0_g, horizon_g, 1.5e9),
            lambda: phases.local_phase(out, t["t0_g"], t["horizon_g"], 1.5e9),
        ),
        (
            "uplink",
            lambda: phases.uplink_phase(ref, t0_g, tcut_g, r_up),
            lambda: phases.uplink_phase(out, t["t0_g"], t["tcut_g"], T(r_up)),
        ),
        (
            "edge",
            lambda: phases.edge_phase(ref, t0_g, t1_g, tcut_g, r_q, K),
            lambda: phases.edge_phase(out, t["t0_g"], t["t1_g"], t["tcut_g"], T(r_q), K),
        ),
        (
            "downlink",
            lambda: phases.downlink_phase(ref, phases.downloading(ref, t1_g), t0_g, tcut_g, r_dl),
            lambda: phases.downlink_phase(out, phases.downloading(out, t["t1_g"]), t["t0_g"], t["tcut_g"], T(r_dl)),
        ),
    ]:
        if name == "downlink":
            idx_ref, idx_out = phases.downloading(ref, t1_g), phases.downloading(out, t["t1_g"])
            check_same(idx_ref, idx_out, name="downloading")
            assert idx_ref.shape[0] > 10
        res_ref, res_out = run_ref(), run_out()
        check_same(res_ref, res_out, name=name)
        check_same(ref, out, name=f"table after {name}")
        served[name] = res_ref.sum()
    check_same(phases.finish_time(ref), phases.finish_time(out), name="finish_time")
    # Every phase served work and finished some tasks, and some queues had no rate.
    assert all(v > 0.0 for v in served.values()), served
    for col in (LOC_DONE, EDGE_T, RES_T, REM_DONE):
        assert (np.isfinite(ref[:, col]) & ~np.isfinite(before[:, col])).any(), col
    assert ((ref[:, UP_REM] > 0.0) & (ref[:, UP_REM] == before[:, UP_REM])).any()
