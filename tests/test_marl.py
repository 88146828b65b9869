"""MAPPO on SB3: the VecEnv contract, masked losses, training, resume, determinism, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

th = pytest.importorskip("torch", reason="the MARL baselines need the marl extra (torch)")
pytest.importorskip("stable_baselines3", reason="the MARL baselines need the marl extra (stable-baselines3)")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize  # noqa: E402

import agents  # noqa: E402
from agents.marl import MAPPO, MARLVecEnv  # noqa: E402
from agents.marl.agent import CHECKPOINT_DIR  # noqa: E402
from agents.train import main as train_main  # noqa: E402
from vecgym import scenarios  # noqa: E402
from vecgym.features import ACTIVE_COLUMN  # noqa: E402
from vecgym.goals import GoalSpec  # noqa: E402

th.set_num_threads(1)
SMALL = {"preset": "paper", "n_vehicles": 8.0, "road_length_m": 600.0}


def small_env(num_roads: int = 2, steps: int = 30, **kw: object) -> MARLVecEnv:
    return MARLVecEnv(num_roads=num_roads, max_episode_steps=steps, **{**SMALL, **kw})


# --- the VecEnv contract ------------------------------------------------------------------------
def test_vec_env_contract_through_sb3_wrappers() -> None:
    env = small_env(steps=20, road_length_m=200.0)  # a short road: vehicles leave within an episode
    wrapped = VecNormalize(VecMonitor(env), norm_reward=False)
    wrapped.seed(0)  # seeded roads and actions: the exits this test needs do not depend on luck
    env.action_space.seed(0)
    obs = wrapped.reset()
    assert obs.shape == (env.num_envs, env.observation_space.shape[0]) and env.num_envs == 2 * env.n_max
    truncations = exits = 0
    for _ in range(45):
        actions = np.stack([env.action_space.sample() for _ in range(env.num_envs)])
        obs, rewards, dones, infos = wrapped.step(actions)
        assert rewards.shape == (env.num_envs,) and dones.dtype == bool and len(infos) == env.num_envs
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == env.observation_space.shape
            truncations += infos[i]["TimeLimit.truncated"]
            exits += not infos[i]["TimeLimit.truncated"]
        active_now = env.roads.obs["active"].ravel().astype(bool)
        assert [info["active"] for info in infos] == active_now.tolist()
    assert truncations > 0 and exits > 0


def test_truncation_returns_the_new_episode_and_keeps_the_terminal_one() -> None:
    env = small_env(num_roads=1, steps=5)
    env.seed(3)
    env.reset()
    for _ in range(4):
        env.step(np.zeros((env.num_envs, env.action_space.shape[0]), np.float32))
    obs, _, dones, infos = env.step(np.zeros((env.num_envs, env.action_space.shape[0]), np.float32))
    ended = np.flatnonzero(dones)
    assert ended.size and all(infos[i]["TimeLimit.truncated"] for i in ended)
    assert infos[0]["episode"]["l"] == 5
    assert env.roads.vec.engine.slot[0] == 0  # the returned observation is the new episode's
    terminal = np.stack([infos[i]["terminal_observation"] for i in ended])
    assert np.all(terminal[:, ACTIVE_COLUMN] == 1.0) and not np.array_equal(terminal, obs[ended])


def test_seed_then_reset_reproduces_and_differs_across_seeds() -> None:
    a, b = small_env(), small_env()
    a.seed(7)
    b.seed(7)
    assert np.array_equal(a.reset(), b.reset())
    a.seed(7)
    b.seed(8)
    assert not np.array_equal(a.reset(), b.reset())
    a.seed(8)
    b.seed(8)
    assert np.array_equal(a.reset(), b.reset())


# --- masked losses ------------------------------------------------------------------------------
def _fill(model: MAPPO, obs: np.ndarray, rng: np.random.Generator) -> None:
    """Fill the model's rollout buffer with ``obs`` (n_steps, n_envs, dim) and random data."""
    buf = model.rollout_buffer
    buf.reset()
    n_steps, n_envs, _ = obs.shape
    for t in range(n_steps):
        with th.no_grad():
            acts, values, log_probs = model.policy(th.as_tensor(obs[t]))
        buf.add(obs[t], acts.numpy(), rng.normal(size=n_envs).astype(np.float32), np.zeros(n_envs), values, log_probs)
    buf.compute_returns_and_advantage(th.zeros(n_envs), np.zeros(n_envs, dtype=bool))


def _update(model: MAPPO) -> dict[str, np.ndarray]:
    """Parameters changed by one SGD step of MAPPO's loss on the buffer (one epoch, one minibatch)."""
    before = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    model._current_progress_remaining = 1.0
    model.train()
    return {k: (model.policy.state_dict()[k] - before[k]).numpy() for k in before}


def _masked_model(n_envs: int) -> MAPPO:
    env = small_env(num_roads=1)
    env.num_envs = n_envs  # the buffer's width; this test fills the buffer by hand
    model = MAPPO(env=env, n_steps=6, n_epochs=1, seed=0, policy_kwargs={"optimizer_class": th.optim.SGD,
                  "optimizer_kwargs": {}})  # fmt: skip
    model.set_logger(configure(None, []))
    return model


def test_empty_slots_change_neither_loss_nor_advantage_statistics() -> None:
    rng = np.random.default_rng(0)
    dim = small_env().observation_space.shape[0]
    live = rng.normal(size=(6, 4, dim)).astype(np.float32)
    live[..., ACTIVE_COLUMN] = 1.0
    empty = rng.normal(scale=50.0, size=(6, 3, dim)).astype(np.float32)
    empty[..., ACTIVE_COLUMN] = 0.0
    with_empty, without = _masked_model(7), _masked_model(4)
    without.policy.load_state_dict(with_empty.policy.state_dict())
    _fill(with_empty, np.concatenate((live, empty), axis=1), np.random.default_rng(1))
    _fill(without, live, np.random.default_rng(1))
    # same rewards for the live slots: regenerate the with_empty rewards' live part identically
    with_empty.rollout_buffer.rewards[:, :4] = without.rollout_buffer.rewards
    with_empty.rollout_buffer.values[:, :4] = without.rollout_buffer.values
    with_empty.rollout_buffer.log_probs[:, :4] = without.rollout_buffer.log_probs
    with_empty.rollout_buffer.actions[:, :4] = without.rollout_buffer.actions
    with_empty.rollout_buffer.compute_returns_and_advantage(th.zeros(7), np.zeros(7, dtype=bool))
    d1, d2 = _update(with_empty), _update(without)
    changed = [k for k in d1 if np.abs(d2[k]).max() > 0]
    assert changed, "the update changed nothing"
    for k in d1:
        np.testing.assert_allclose(d1[k], d2[k], rtol=1e-4, atol=1e-7, err_msg=k)


def test_value_normaliser_is_fed_active_returns_only() -> None:
    rng = np.random.default_rng(0)
    dim = small_env().observation_space.shape[0]
    obs = rng.normal(size=(6, 5, dim)).astype(np.float32)
    obs[..., ACTIVE_COLUMN] = 0.0
    obs[:, :2, ACTIVE_COLUMN] = 1.0
    model = _masked_model(5)
    _fill(model, obs, rng)
    returns = model.rollout_buffer.returns[:, :2].ravel().copy()
    list(model.rollout_buffer.get(None))
    mean, _ = model.policy.value_norm.mean_var()
    assert mean.item() == pytest.approx(returns.mean(), rel=1e-6)


# --- training, resume, determinism --------------------------------------------------------------
def _train(out: Path, *extra: str) -> dict:
    args = ["--n-vehicles", "8", "--n-envs", "2", "--n-steps", "50", "--eval-every", "1000", "--eval-seeds", "1",
            "--eval-slots", "20", "--no-progress", "--out", str(out), *extra]  # fmt: skip
    train_main(args)
    return json.loads((out / "summary.json").read_text())


def test_train_2000_steps_then_resume(tmp_path: Path) -> None:
    first = _train(tmp_path / "run", "--timesteps", "2000")
    assert first["road_steps"] >= 2000 and (tmp_path / "run" / "best.zip").is_file()
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 0
    assert first["env_road_steps_per_s"] > 0 and first["learner_samples_per_s"] > 0
    assert list((tmp_path / "run" / "tb").rglob("events.out.tfevents.*"))
    train_main(["--resume", str(tmp_path / "run"), "--timesteps", "3000", "--no-progress"])
    second = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert second["road_steps"] >= 3000 and second["wall_s"] > first["wall_s"]
    rows = (tmp_path / "run" / "eval.csv").read_text().splitlines()
    assert len(rows) >= 4  # header, step 0, ~2000, ~3000


def test_seeded_training_is_deterministic() -> None:
    params = []
    for _ in range(2):
        model = MAPPO(env=small_env(), n_steps=20, n_epochs=2, seed=5)
        model.learn(2 * 20 * model.env.num_envs)
        params.append(th.nn.utils.parameters_to_vector(model.policy.parameters()).detach().numpy().copy())
    assert np.array_equal(params[0], params[1])


def test_bad_arguments_and_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        train_main(["--goals", "sometimes"])
    with pytest.raises(SystemExit):
        train_main(["--scenario", "nowhere"])
    with pytest.raises(SystemExit):
        train_main(["--goals", "sampled", "--goal-dist", "v3"])
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    env = scenarios.make("scalability")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        agents.make_agent("s-marl", env, checkpoint=str(bad))
    with pytest.raises(ValueError, match="does not exist"):
        agents.make_agent("s-marl", env, checkpoint=str(tmp_path / "missing.zip"))
    with pytest.raises(ValueError, match="cannot resume"):
        train_main(["--resume", str(tmp_path), "--timesteps", "10", "--no-progress"])


# --- shipped checkpoints ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["s-marl", "gc-marl"])
def test_shipped_checkpoints_load_and_act_inside_the_action_space(name: str) -> None:
    assert (CHECKPOINT_DIR / f"{name}.zip").is_file() and (CHECKPOINT_DIR / f"{name}.json").is_file()
    env = scenarios.make("scalability", n_vehicles=30.0, max_episode_steps=20)
    agent = agents.make_agent(name, env)
    obs, info = env.reset(seed=1)
    agent.reset(1)
    for _ in range(20):
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        obs, _, _, _, info = env.step(action)
        assert sum(info["action_repairs"].values()) == 0
    assert PPO.load(CHECKPOINT_DIR / f"{name}.zip", device="cpu").observation_space.shape == (
        agent.model.observation_space.shape
    )
    mean, var = agent.model.policy.value_norm.mean_var()  # the value normaliser travels in the zip
    assert agent.model.policy.value_norm.debiasing_term.item() > 0 and mean.item() < 0 < var.item()
    recorded = json.loads((CHECKPOINT_DIR / f"{name}.json").read_text())
    assert recorded["command"].startswith("python -m agents.train") and recorded["seed"] == agent.meta["seed"]


def test_shipped_checkpoint_on_a_mismatched_env_names_the_difference() -> None:
    with pytest.raises(ValueError, match="n_servers=6"):
        agents.make_agent("s-marl", scenarios.make("corridor"))


def test_gc_marl_reads_the_goal_channel_and_s_marl_does_not() -> None:
    env = scenarios.make("scalability", max_episode_steps=40)
    obs, info = env.reset(seed=2)
    for _ in range(30):
        obs, *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    energy = {**obs, "goal": GoalSpec(beta_energy=5.0, beta_qos=0.5, deadline_scale=2.0).vector()}
    for name, reads in (("gc-marl", True), ("s-marl", False)):
        a1 = agents.make_agent(name, env).act(obs, info)
        a2 = agents.make_agent(name, env).act(energy, info)
        assert (not np.allclose(a1, a2)) == reads, name


def test_the_trainer_accepts_the_marginal_reward() -> None:
    from agents.train import parse_args

    assert parse_args(["--reward", "marginal"]).reward == "marginal"
    with pytest.raises(SystemExit):
        parse_args(["--reward", "shapley"])
