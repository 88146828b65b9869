"""Twin v2: the pooled radio map, handover-time and server-load forecasts, info["forecast"]."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vecgym
from twins.radio_map import RadioMap
from twins.twin import PredictiveTwin
from twins.wrapper import MAX_TIME_S, make_pdt_env
from vecgym.core import radio


def _drive(rmap: RadioMap, field: np.ndarray, cfg: vecgym.VECConfig, passes: int, rng: np.random.Generator) -> None:
    """``passes`` drives over the whole road on every lane, a report every ~3 m, with Rayleigh
    fading and sensor noise on each SNR report (what the env measures)."""
    for _ in range(passes):
        for lane in range(cfg.n_lanes):
            x = np.arange(rng.uniform(0, 3.0), cfg.road_length_m, 3.0)
            ln = np.full(x.shape, lane)
            srv = np.abs(x[:, None] - np.asarray(cfg.rsu_x_m)).argmin(axis=1)
            shadow = radio.map_shadowing_db(field[None], np.zeros_like(srv), srv, ln, x, cfg)
            y = cfg.lane_offset_m + cfg.lane_width_m * ln
            dist = radio.distance_m(x, y, np.asarray(cfg.rsu_x_m)[srv], cfg.antenna_height_m)
            fade_db = 10 * np.log10(rng.exponential(size=x.shape))
            snr = radio.mean_snr_db(dist, shadow, cfg) + fade_db + cfg.rate_noise_db * rng.normal(size=x.shape)
            rmap.add_snr(x, ln, snr)


def test_radio_map_converges_to_the_true_field() -> None:
    cfg = vecgym.VECConfig.from_kwargs(preset="corridor")
    field = radio.draw_radio_map(np.array([7]), cfg)[0]
    rmap = RadioMap(cfg)
    rng = np.random.default_rng(0)
    prior_rmse = float(np.sqrt(np.mean(field**2)))
    errs, stds = [], []
    for passes in (1, 4, 16):
        _drive(rmap, field, cfg, passes, rng)
        rmse, visited = rmap.error_db(field)
        errs.append(rmse)
        stds.append(float(rmap.shadowing_db(0, 1, 480.0)[1]))
    assert prior_rmse > 6.0
    assert errs[0] < 0.7 * prior_rmse  # one pass already helps (shrunk towards 0)
    assert errs[0] > errs[1] > errs[2]  # and more reports help more
    assert errs[2] < 1.3, errs  # the binning floor is ~0.9 dB (see twins.radio_map), noise ~0.7 dB
    assert stds[0] > stds[1] > stds[2]
    assert visited == pytest.approx(1.0 / 6.0, abs=0.01)  # each RSU's field is seen in its ~1 km
    # The std is honest: the posterior z-scores of the error are about standard normal.
    srv, ln = np.meshgrid(np.arange(cfg.n_servers), np.arange(cfg.n_lanes), indexing="ij")
    x = np.asarray(cfg.rsu_x_m)[srv] + 200.0
    mean, std = rmap.shadowing_db(srv, ln, x)
    truth = radio.map_shadowing_db(field[None], np.zeros_like(srv), srv, ln, x, cfg)
    assert np.sqrt(np.mean(((mean - truth) / std) ** 2)) < 2.0
    # An empty map is the prior: mean 0, std sigma.
    fresh = RadioMap(cfg)
    m0, s0 = fresh.shadowing_db(2, 0, 1234.0)
    assert m0 == 0.0 and s0 == pytest.approx(cfg.shadowing_std_db)


def test_radio_map_forgets_a_drifting_field() -> None:
    cfg = vecgym.VECConfig.from_kwargs(preset="corridor", radio_map_drift_s=30.0)
    rmap = RadioMap(cfg)
    assert rmap.decay < 1.0
    rmap.add(np.array([0]), np.array([0]), np.array([500.0]), np.array([5.0]))
    n0 = rmap.count.sum()
    for _ in range(300):  # 30 s
        rmap.forget()
    assert rmap.count.sum() == pytest.approx(n0 * np.exp(-1.0), rel=1e-6)


def _corridor_noiseless(**kw: object) -> vecgym.VECEnv:
    return vecgym.VECEnv(preset="corridor", gps_noise_m=0.0, speed_noise_mps=0.0, rate_noise_db=0.0, **kw)


def test_time_to_handover_is_exact_at_constant_speed() -> None:
    env = _corridor_noiseless()
    cfg = env.cfg
    assert not cfg.dynamic_speed
    twin = PredictiveTwin(cfg)
    obs, _ = env.reset(seed=4)
    twin.update(obs)
    zero = np.zeros(env.action_space.shape, np.float32)
    for _ in range(3):
        obs, *_ = env.step(zero)
        twin.update(obs)
    fc = twin.forecast()
    sim = env.sim
    rsu = np.asarray(cfg.rsu_x_m)
    change = np.sort(np.concatenate((rsu - cfg.coverage_radius_m, rsu + cfg.coverage_radius_m)))
    change = change[(change > 0) & (change < cfg.road_length_m)]  # 50, 950, 1050, ..., 5950
    act = np.flatnonzero(sim.active)
    assert act.shape[0] > 50
    cell_now = obs["cell"].copy()
    expected = {}
    for n in act:
        ahead = change[change > sim.x[n]]
        want = (ahead[0] - sim.x[n]) / sim.v[n] if ahead.shape[0] else np.inf
        assert fc.time_to_handover_s[n] == pytest.approx(want, rel=1e-6, abs=1e-4), n  # float32 obs
        assert fc.time_to_exit_s[n] == pytest.approx((cfg.road_length_m - sim.x[n]) / sim.v[n], rel=1e-6)
        expected[int(sim.vid[n])] = (n, want)
    assert np.isinf(fc.time_to_handover_s[act]).any() or np.isfinite(fc.time_to_handover_s[act]).all()
    assert (fc.time_to_handover_std_s[act] < 1e-3).all()  # noiseless sensors: a sure forecast
    # And the cell indeed changes in the slot the forecast says.
    checked = 0
    for k in range(1, 60):
        obs, *_ = env.step(zero)
        for vid, (n, want) in list(expected.items()):
            if obs["vehicle_id"][n] != vid or not obs["active"][n]:
                del expected[vid]
                continue
            if obs["cell"][n] != cell_now[n]:
                assert (k - 1) * cfg.slot_s < want <= k * cfg.slot_s + 1e-9, (vid, k, want)
                del expected[vid]
                checked += 1
            else:
                assert want > k * cfg.slot_s - 1e-9, (vid, k, want)
    assert checked > 10


@pytest.mark.parametrize("preset", ["paper", "corridor"])
def test_new_forecast_fields_shapes_and_masks(preset: str) -> None:
    env = vecgym.VECEnv(preset=preset, n_vehicles=20.0)
    cfg = env.cfg
    twin = PredictiveTwin(cfg, horizon=4)
    obs, _ = env.reset(seed=2)
    twin.update(obs)
    for _ in range(20):
        obs, *_ = env.step(env.action_space.sample())
        twin.update(obs)
    fc = twin.forecast()
    H, M, S = 4, env.n_max, cfg.n_servers
    assert fc.cell.shape == (H, M) and fc.cell.dtype == np.int64
    for name in ("time_to_handover_s", "time_to_handover_std_s", "time_to_exit_s"):
        assert getattr(fc, name).shape == (M,)
    for name in ("server_vehicles", "server_work_cycles", "server_work_std_cycles"):
        assert getattr(fc, name).shape == (H, S)
        assert (getattr(fc, name) >= 0).all()
    empty = obs["active"] == 0
    assert empty.any()
    assert (fc.cell[:, empty] == -1).all() and (fc.cell[~fc.mask] == -1).all()
    assert not fc.time_to_handover_s[empty].any() and not fc.time_to_exit_s[empty].any()
    live = fc.mask[0]
    assert live.any()
    assert (fc.time_to_exit_s[live] > 0).all()
    gap = fc.mask & (fc.cell == -1)
    assert not fc.rate_mbps[gap].any() and not fc.snr_db[gap].any()
    covered = fc.cell >= 0
    assert (fc.rate_mbps[covered] > 0).all()
    assert (fc.rate_lo_mbps <= fc.rate_mbps + 1e-9).all() and (fc.rate_mbps <= fc.rate_hi_mbps + 1e-9).all()
    assert (fc.rate_hi_mbps <= cfg.bandwidth_hz * 1e-6 * cfg.max_spectral_efficiency + 1e-9).all()
    # Server load: the membership probabilities sum to at most the vehicles present, and match
    # the point forecast of the cell where the position is sure.
    n_live = int(obs["active"].sum())
    assert (fc.server_vehicles.sum(axis=1) <= n_live + 1e-9).all()
    point = np.stack([np.bincount(fc.cell[h][fc.cell[h] >= 0], minlength=S) for h in range(H)])
    assert np.abs(fc.server_vehicles - point).sum(axis=1).max() <= 2.0
    cpb = np.asarray(cfg.per_type("cycles_per_byte"))
    total = (fc.arrivals_bytes @ cpb).sum(axis=1)
    assert (fc.server_work_cycles.sum(axis=1) <= total * (1 + 1e-9) + 1.0).all()
    if preset == "paper":  # one RSU covers the whole road: no handover ever
        assert np.isinf(fc.time_to_handover_s[live]).all()
        assert (fc.cell[fc.mask] == 0).all()
        np.testing.assert_allclose(fc.server_work_cycles[0, 0], total[0], rtol=1e-6)
    else:
        assert np.isfinite(fc.time_to_handover_s[live]).any()


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_info_forecast_is_the_wrappers_single_forecast() -> None:
    env = make_pdt_env(preset="corridor", horizon=3)
    obs, info = env.reset(seed=5)
    twin = env.twin
    assert info["forecast"] is env.forecast and twin.forecast_calls == 1
    for i in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert info["forecast"] is env.forecast
        assert twin.forecast_calls == 2 + i
        fc = info["forecast"]
        np.testing.assert_array_equal(obs["forecast/cell"], fc.cell)
        np.testing.assert_allclose(obs["forecast/server_work_cycles"], fc.server_work_cycles.astype(np.float32))
        tth = obs["forecast/time_to_handover_s"]
        assert tth.shape == (env.unwrapped.n_max,) and (tth <= MAX_TIME_S).all()
        assert env.observation_space.contains(obs)
    env.reset(seed=6)
    assert twin.forecast_calls == 1
    # gym.make goes through the same wrapper.
    made = gym.make("VEC-pDT-v0", n_vehicles=8)
    _, info = made.reset(seed=0)
    assert info["forecast"] is made.get_wrapper_attr("forecast")


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_corridor_pdt_env_passes_check_env() -> None:
    check_env(make_pdt_env(preset="corridor", n_vehicles=20.0), skip_render_check=True)
