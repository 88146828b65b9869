"""The predictive twin: Kalman filter against filterpy, bookkeeping, the VEC-pDT-v0 wrapper."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vecgym
from twins.embedding import embed_text
from twins.kalman import ConstantVelocityKF
from twins.twin import PredictiveTwin
from twins.wrapper import make_pdt_env


def test_kalman_matches_filterpy_to_1e9() -> None:
    filterpy = pytest.importorskip("filterpy.kalman")
    from filterpy.common import Q_discrete_white_noise

    rng = np.random.default_rng(0)
    n, dt, acc, sp, sv = 7, 0.1, 1.3, 2.0, 0.4
    kf = ConstantVelocityKF(n, dt, acc, sp, sv)
    x0 = rng.uniform(0, 2000, n)
    v0 = rng.uniform(15, 30, n)
    kf.start(np.arange(n), x0, v0)
    refs = []
    for i in range(n):
        f = filterpy.KalmanFilter(dim_x=2, dim_z=2)
        f.x = np.array([x0[i], v0[i]])
        f.F = np.array([[1.0, dt], [0.0, 1.0]])
        f.H = np.eye(2)
        f.R = np.diag([sp**2, sv**2])
        f.P = f.R.copy()
        f.Q = Q_discrete_white_noise(dim=2, dt=dt, var=acc**2)
        refs.append(f)
    for step in range(60):
        z = np.stack((x0 + v0 * dt * (step + 1) + rng.normal(0, sp, n), v0 + rng.normal(0, sv, n)), axis=1)
        upd = np.flatnonzero(rng.random(n) < 0.8)  # some filters miss a measurement
        kf.predict()
        kf.update(upd, z[upd, 0], z[upd, 1])
        for i, f in enumerate(refs):
            f.predict()
            if i in upd:
                f.update(z[i])
        for i, f in enumerate(refs):
            np.testing.assert_allclose(kf.x[i], f.x, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(kf.P[i], f.P, rtol=1e-9, atol=1e-12)


def _noiseless(**kw: object) -> vecgym.VECEnv:
    return vecgym.VECEnv(gps_noise_m=0.0, speed_noise_mps=0.0, rate_noise_db=0.0, **kw)


def test_constant_speed_vehicle_is_forecast_exactly() -> None:
    env = _noiseless(n_vehicles=8)
    twin = PredictiveTwin(env.cfg, horizon=5)
    obs, _ = env.reset(seed=1)
    twin.update(obs)
    zero = np.zeros(env.action_space.shape, np.float32)
    for _ in range(3):
        obs, *_ = env.step(zero)
        twin.update(obs)
    fc = twin.forecast()
    sim = env.sim
    expected = {int(v): x for v, x in zip(sim.vid, sim.x, strict=True) if v >= 0}
    for h in range(5):
        env.step(zero)
        truth = {int(v): x for v, x in zip(sim.vid, sim.x, strict=True) if v >= 0}
        for n in np.flatnonzero(fc.mask[h]):
            v = int(fc.vehicle_id[n])
            if v in truth:
                assert fc.position_m[h, n, 0] == pytest.approx(truth[v], abs=1e-3), (h, v)
                assert fc.speed_mps[h, n] == pytest.approx(sim.v[sim.vid == v][0], abs=1e-4)
    assert expected  # the road was not empty


def test_a_reused_slot_never_inherits_the_old_vehicles_state() -> None:
    env = _noiseless(n_vehicles=6, road_length_m=200.0)  # short road: slots are reused often
    twin = PredictiveTwin(env.cfg)
    obs, _ = env.reset(seed=3)
    twin.update(obs)
    reused = 0
    last_seen = np.where(obs["active"] > 0, obs["vehicle_id"], -1)  # last vehicle each slot held
    for _ in range(300):
        obs, *_ = env.step(env.action_space.sample())
        twin.update(obs)
        np.testing.assert_array_equal(twin.vid, np.where(obs["active"] > 0, obs["vehicle_id"], -1))
        fresh = (obs["active"] > 0) & (last_seen >= 0) & (obs["vehicle_id"] != last_seen)
        last_seen = np.where(obs["active"] > 0, obs["vehicle_id"], last_seen)
        reused += int(fresh.sum())
        # A new vehicle's filter starts from its own first measurement.
        np.testing.assert_allclose(twin.kf.x[fresh, 0], obs["position_m"][fresh, 0], atol=1e-3)
        np.testing.assert_allclose(twin.kf.x[fresh, 1], obs["speed_mps"][fresh], atol=1e-3)
        assert not twin.forecast().mask[:, obs["active"] == 0].any()
    assert reused > 0


def test_sensor_dropouts_widen_the_forecast_instead_of_failing() -> None:
    env = vecgym.VECEnv(n_vehicles=10)
    twin_ok, twin_drop = PredictiveTwin(env.cfg), PredictiveTwin(env.cfg)
    obs, _ = env.reset(seed=0)
    twin_ok.update(obs)
    twin_drop.update(obs)
    for t in range(20):
        obs, *_ = env.step(env.action_space.sample())
        twin_ok.update(obs)
        bad = {k: v.copy() for k, v in obs.items()}
        if t >= 10:
            bad["position_m"] = bad["position_m"].astype(np.float64)
            bad["position_m"][:] = np.nan
            bad["speed_mps"] = np.full_like(bad["speed_mps"], np.nan, dtype=np.float64)
            bad["snr_db"] = np.full_like(bad["snr_db"], np.nan, dtype=np.float64)
        twin_drop.update(bad)
    ok, drop = twin_ok.forecast(), twin_drop.forecast()
    both = ok.mask[0] & drop.mask[0]
    assert both.any() and twin_drop.dropouts > 0
    assert (drop.position_std_m[0, both] > ok.position_std_m[0, both]).all()
    assert np.isfinite(drop.position_m).all() and np.isfinite(drop.rate_mbps).all()


def test_bad_twin_arguments_raise() -> None:
    cfg = vecgym.VECConfig()
    with pytest.raises(ValueError, match="horizon"):
        PredictiveTwin(cfg, horizon=0)
    with pytest.raises(ValueError, match="unknown arrival forecaster 'arima'"):
        PredictiveTwin(cfg, arrivals="arima")
    twin = PredictiveTwin(cfg)
    env = vecgym.VECEnv(n_vehicles=5)  # a different n_max
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="do not match"):
        twin.update(obs)
    with pytest.raises(ValueError, match="lacks key"):
        twin.update({"active": obs["active"]})


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_pdt_env_passes_check_env_and_is_registered() -> None:
    check_env(make_pdt_env(n_vehicles=8), skip_render_check=True)
    env = gym.make("VEC-pDT-v0", n_vehicles=8)
    assert env.spec is not None and env.spec.max_episode_steps == vecgym.MAX_EPISODE_STEPS
    obs, _ = env.reset(seed=0)
    assert obs["forecast/arrivals_bytes"].shape == (5, env.unwrapped.n_max, 3)
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)


def test_pdt_forecasts_match_the_twin_and_embed_the_command() -> None:
    env = make_pdt_env(n_vehicles=8, horizon=3)
    obs, _ = env.reset(seed=0)
    assert not obs["command_embedding"].any()
    env.unwrapped.issue_command("Switch to maximum energy saving mode")
    obs, *_ = env.step(env.action_space.sample())
    np.testing.assert_allclose(obs["command_embedding"], embed_text("Switch to maximum energy saving mode"))
    fc = env.forecast
    assert fc is not None and fc.horizon == 3
    np.testing.assert_array_equal(obs["forecast/mask"], fc.mask.astype(np.int8))
    np.testing.assert_allclose(obs["forecast/rate_mbps"], fc.rate_mbps.astype(np.float32))


def test_hashing_embedding_is_deterministic_across_processes() -> None:
    text = "Prioritize latency for vehicle 7 for the next 90 s"
    code = f"from twins.embedding import embed_text; print(embed_text({text!r}).tobytes().hex())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == embed_text(text).tobytes().hex()
    assert embed_text(None).shape == (64,) and not embed_text("").any()
    assert float(np.linalg.norm(embed_text(text))) == pytest.approx(1.0)


def test_make_pdt_with_module_prefix_in_fresh_process() -> None:
    code = "import gymnasium as gym; e = gym.make('vecgym:VEC-pDT-v0', n_vehicles=5); e.reset(seed=0); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_expected_rayleigh_rate_matches_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    from twins.twin import rayleigh_mean_log2

    snr = np.logspace(-2, 8, 200)  # below 0.01, e^(1/snr) overflows in the reference formula
    exact = np.exp(1 / snr) * special.exp1(1 / snr) / np.log(2)
    np.testing.assert_allclose(rayleigh_mean_log2(snr), exact, rtol=3e-6)
    tiny = np.logspace(-9, -2, 20)  # there log2(1 + snr·X) ≈ snr·X / ln 2
    np.testing.assert_allclose(rayleigh_mean_log2(tiny), tiny / np.log(2), rtol=2e-2)


# --- the LSTM option (extra "forecast": torch) --------------------------------------------------
def _torch_or_skip() -> None:
    pytest.importorskip("torch", reason="torch is not installed: the LSTM forecaster is the 'forecast' extra")


def test_lstm_loads_its_shipped_weights_offline_and_forecasts() -> None:
    _torch_or_skip()
    from twins.lstm import WEIGHTS

    assert WEIGHTS.is_file()
    env = make_pdt_env(n_vehicles=8, arrivals="lstm")
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        obs, *_ = env.step(env.action_space.sample())
    fc = env.forecast
    assert fc is not None and env.observation_space.contains(obs)
    live = fc.mask[0]
    assert live.any() and np.isfinite(fc.arrivals_bytes).all() and (fc.arrivals_bytes[:, live] >= 0).all()
    assert fc.arrivals_bytes[:, live].sum() > 0


def test_lstm_weights_missing_or_misshapen_raise_clearly(tmp_path) -> None:
    _torch_or_skip()
    from twins.lstm import WEIGHTS, load_model

    with pytest.raises(FileNotFoundError, match=r"python -m twins\.train"):
        load_model(tmp_path / "nope.npz")
    with np.load(WEIGHTS) as data:
        state = {k: data[k] for k in data.files}
    state["head.weight"] = state["head.weight"][:, :3]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **state)
    with pytest.raises(ValueError, match=r"head\.weight"):
        load_model(bad)
    del state["head.weight"]
    np.savez(bad, **state)
    with pytest.raises(ValueError, match="lack"):
        load_model(bad)
