"""The explicit goal channel (DESIGN §3): what ``obs["goal"]`` holds under each ``goal_channel``,
refused and expiring interpreted goals, the command schedule argument, and the leaf modules that
break the config -> goals -> commands import loop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import vecgym
from vecgym import GoalSpec, ScheduledCommand, VECConfig
from vecgym.features import feature_names, goal_features
from vecgym.goals import BALANCED, GOAL_VECTOR_SIZE, CommandError, parse_command

N_VEHICLES = 5
ENERGY_TEXT = "save energy"
# The ground truth of the scheduled command, deliberately unlike what the interpreter reads in it.
TRUTH = GoalSpec(beta_qos=4.0, class_weights={"truck": 3.0}, label="truth")
SCHEDULE = (ScheduledCommand(slot=2, text=ENERGY_TEXT, goal=TRUTH),)
REFUSED_TEXT = "make me a sandwich"


def _state(info: dict[str, Any]) -> dict[str, Any]:
    """``info["interpretation"]`` without its explanation (set only on the step of a change)."""
    return {k: v for k, v in info["interpretation"].items() if k != "explanation"}


def _env(**kwargs: Any) -> gym.Env:
    return gym.make("VEC-v0", n_vehicles=N_VEHICLES, **kwargs)


def _zero(env: gym.Env) -> np.ndarray:
    return np.zeros(env.action_space.shape, np.float32)


def _run(goal_channel: str, n_steps: int = 4) -> list[tuple[dict[str, np.ndarray], float, dict[str, Any]]]:
    """(obs, reward, info) after reset (reward 0) and after each of ``n_steps`` zero-action steps."""
    env = _env(commands=SCHEDULE, goal_channel=goal_channel)
    obs, info = env.reset(seed=3)
    out = [(obs, 0.0, info)]
    for _ in range(n_steps):
        obs, reward, _, _, info = env.step(_zero(env))
        out.append((obs, float(reward), info))
    return out


def test_the_interpreter_reads_the_command_unlike_the_truth() -> None:
    """The premise of the tests below: the three modes give three different vectors."""
    vectors = [parse_command(ENERGY_TEXT).vector(), TRUTH.vector(), BALANCED.vector(), np.zeros_like(TRUTH.vector())]
    for i, a in enumerate(vectors):
        for b in vectors[i + 1 :]:
            assert not np.array_equal(a, b)
    with pytest.raises(CommandError):
        parse_command(REFUSED_TEXT)


@pytest.mark.parametrize(
    ("goal_channel", "before", "after"),
    [
        ("interpreted", BALANCED.vector(), parse_command(ENERGY_TEXT).vector()),
        ("truth", BALANCED.vector(), TRUTH.vector()),
        ("none", np.zeros_like(TRUTH.vector()), np.zeros_like(TRUTH.vector())),
    ],
)
def test_each_mode_fills_the_goal_observation(goal_channel: str, before: np.ndarray, after: np.ndarray) -> None:
    for t, (obs, _, info) in enumerate(_run(goal_channel)):
        np.testing.assert_array_equal(obs["goal"], after if t >= 2 else before, err_msg=f"slot {t}")
        assert obs["goal"].dtype == np.float32
        assert info["goal_channel"] == goal_channel
        assert info["goal"] == ("truth" if t >= 2 else "balanced")  # the reward's goal in every mode
        if goal_channel == "interpreted":
            label = "energy_saving" if t >= 2 else "balanced"
            assert _state(info) == {"label": label, "refused": False, "error": None}
            assert (info["interpretation"]["explanation"] is not None) == (t == 2)  # the slot it changed
        else:
            assert info["interpretation"] is None


def test_the_channel_changes_neither_physics_nor_reward() -> None:
    runs = {mode: _run(mode) for mode in vecgym.VECEnv.GOAL_CHANNELS}
    base = runs["truth"]
    for mode, run in runs.items():
        for (obs_a, r_a, info_a), (obs_b, r_b, info_b) in zip(base, run, strict=True):
            assert r_a == r_b, mode
            np.testing.assert_equal(info_a.get("metrics"), info_b.get("metrics"), err_msg=mode)
            for key in obs_a:
                if key != "goal":
                    np.testing.assert_array_equal(obs_a[key], obs_b[key], err_msg=f"{mode}: {key}")


def test_a_refused_command_keeps_the_previous_interpreted_goal() -> None:
    env = _env()
    env.reset(seed=0)
    core = env.unwrapped
    energy = parse_command(ENERGY_TEXT)
    core.issue_command(ENERGY_TEXT)
    obs, _, _, _, info = env.step(_zero(env))
    assert core.interpreted_goal == energy and not info["interpretation"]["refused"]

    with pytest.raises(CommandError) as refusal:
        parse_command(REFUSED_TEXT)
    core.issue_command(REFUSED_TEXT, GoalSpec(fairness=1.0, label="fair"))
    for _ in range(2):  # the refusal stays reported until the next command
        obs, _, _, _, info = env.step(_zero(env))
        np.testing.assert_array_equal(obs["goal"], energy.vector())
        assert core.interpreted_goal == energy
        assert _state(info) == {"label": "energy_saving", "refused": True, "error": str(refusal.value)}
        assert (info["command"], info["command_id"]) == (REFUSED_TEXT, 2)
        assert info["goal"] == "fair"  # the ground truth follows the command all the same

    core.issue_command("reduce latency for everyone")
    obs, _, _, _, info = env.step(_zero(env))
    assert _state(info) == {"label": "low_latency", "refused": False, "error": None}
    np.testing.assert_array_equal(obs["goal"], parse_command("reduce latency for everyone").vector())


def test_a_refused_first_command_leaves_the_balanced_goal() -> None:
    env = _env(commands=(ScheduledCommand(slot=0, text=REFUSED_TEXT),))
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs["goal"], BALANCED.vector())
    assert info["interpretation"]["refused"] and info["interpretation"]["label"] == "balanced"
    assert "sandwich" in info["interpretation"]["error"]


def test_a_new_episode_forgets_the_interpretation() -> None:
    env = _env()
    env.reset(seed=0)
    env.unwrapped.issue_command(ENERGY_TEXT)
    env.unwrapped.issue_command(REFUSED_TEXT)
    _, _, _, _, info = env.step(_zero(env))
    assert info["interpretation"]["refused"] and info["interpretation"]["label"] == "energy_saving"
    obs, info = env.reset(seed=0)
    assert info["interpretation"] == {"label": "balanced", "refused": False, "error": None, "explanation": None}
    np.testing.assert_array_equal(obs["goal"], BALANCED.vector())
    assert env.unwrapped.interpreted_goal == BALANCED


@pytest.mark.parametrize(
    ("text", "expires_after"), [("save energy for 2 seconds", 20), ("Save energy for 1.5 seconds", 15)]
)
def test_an_interpreted_goal_expires_back_to_balanced(text: str, expires_after: int) -> None:
    issued_at = 3
    env = _env(commands=(ScheduledCommand(slot=issued_at, text=text),), slot_s=0.1)
    env.reset(seed=0)
    interpreted = parse_command(text)
    assert interpreted.duration_s == pytest.approx(expires_after * 0.1)
    for t in range(1, issued_at + expires_after + 3):
        obs, _, _, _, info = env.step(_zero(env))
        in_force = issued_at <= t < issued_at + expires_after
        np.testing.assert_array_equal(obs["goal"], (interpreted if in_force else BALANCED).vector(), err_msg=f"t={t}")
        assert info["interpretation"]["label"] == ("energy_saving" if in_force else "balanced"), t
        assert info["goal"] == "balanced"  # the command had no ground-truth goal


def test_the_truth_goal_still_expires_under_the_interpreted_channel() -> None:
    brief = GoalSpec(beta_qos=3.0, duration_s=0.3, label="brief")
    env = _env(commands=(ScheduledCommand(slot=1, text=ENERGY_TEXT, goal=brief),))
    env.reset(seed=0)
    labels = [env.step(_zero(env))[4] for _ in range(6)]
    assert [i["goal"] for i in labels] == ["brief", "brief", "brief", "balanced", "balanced", "balanced"]
    assert {i["interpretation"]["label"] for i in labels} == {"energy_saving"}  # no duration: stays


@pytest.mark.parametrize("bad", ["oracle", "Truth", "", None, 1, ("truth",)])
def test_a_bad_goal_channel_names_the_allowed_values(bad: Any) -> None:
    for build in (
        lambda: vecgym.VECEnv(goal_channel=bad),
        lambda: gym.make("VEC-v0", goal_channel=bad),
        lambda: gym.make("VEC-pDT-v0", goal_channel=bad),
        lambda: vecgym.parallel_env(goal_channel=bad),
    ):
        with pytest.raises(ValueError, match="goal_channel") as excinfo:
            build()
        for mode in ("interpreted", "truth", "none"):
            assert repr(mode) in str(excinfo.value)


def test_the_default_channel_is_interpreted() -> None:
    assert vecgym.VECEnv().goal_channel == "interpreted"
    assert gym.make("VEC-v0").unwrapped.goal_channel == "interpreted"


def test_the_schedule_and_the_channel_reach_every_entry_point() -> None:
    pdt = gym.make("VEC-pDT-v0", n_vehicles=N_VEHICLES, commands=list(SCHEDULE), goal_channel="truth")
    assert pdt.unwrapped.commands == SCHEDULE and pdt.unwrapped.goal_channel == "truth"
    pdt.reset(seed=3)
    for _ in range(2):
        obs, _, _, _, info = pdt.step(_zero(pdt))
    np.testing.assert_array_equal(obs["goal"], TRUTH.vector())
    assert info["command"] == ENERGY_TEXT and "command_embedding" in obs

    # The PettingZoo env: an agent's goal columns (goal_features, log scale) follow the channel.
    goal_cols = slice(feature_names(VECConfig()).index("goal_0"), None)
    for channel, after in (
        ("none", None),
        ("truth", TRUTH.vector()),
        ("interpreted", parse_command(ENERGY_TEXT).vector()),
    ):
        par = vecgym.parallel_env(n_vehicles=N_VEHICLES, commands=SCHEDULE, goal_channel=channel)
        observations, _ = par.reset(seed=0)
        assert par.roads.vec.commands == SCHEDULE and par.roads.vec.channels[0].mode == channel
        for _ in range(2):
            observations, _, _, _, infos = par.step({agent: np.zeros(6, np.float32) for agent in par.agents})
        assert infos["slot_0"]["command"] == ENERGY_TEXT and infos["slot_0"]["goal"] == "truth"
        for agent_obs in observations.values():
            active = bool(agent_obs[0])
            want = goal_features(after) if after is not None and active else np.zeros(GOAL_VECTOR_SIZE)
            np.testing.assert_allclose(agent_obs[goal_cols], want, err_msg=channel)


def test_the_schedule_is_not_in_the_config() -> None:
    env = _env(commands=SCHEDULE)
    assert env.unwrapped.commands == SCHEDULE
    assert "commands" not in env.unwrapped.cfg.as_dict()
    assert _env().unwrapped.commands == ()


# --- the import loop ------------------------------------------------------------------------
PACKAGE_DIR = Path(vecgym.__file__).parent


def _loaded_after(imports: str) -> set[str]:
    """The vecgym modules loaded by ``imports`` in a fresh interpreter, skipping the package's
    ``__init__`` (which imports everything) by standing in an empty package for it."""
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('vecgym'); pkg.__path__ = [{str(PACKAGE_DIR)!r}]; sys.modules['vecgym'] = pkg\n"
        f"{imports}\n"
        "print(' '.join(sorted(m for m in sys.modules if m == 'vecgym' or m.startswith('vecgym.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_vocab_is_a_leaf() -> None:
    assert _loaded_after("import vecgym.vocab") == {"vecgym", "vecgym.vocab"}


def test_goals_and_the_interpreter_do_not_import_the_config() -> None:
    loaded = _loaded_after(
        "import vecgym.goals, vecgym.schedule\nassert vecgym.goals.parse_command('save energy').beta_energy > 1"
    )
    interpreter = {m for m in loaded if m.startswith("vecgym.interpret.")}
    assert loaded - interpreter == {"vecgym", "vecgym.vocab", "vecgym.goals", "vecgym.interpret", "vecgym.schedule"}


def test_the_vocabulary_is_shared_not_copied() -> None:
    from vecgym import config, goals, vocab

    assert config.CLASSES is vocab.CLASSES is vecgym.CLASSES and config.DEFAULT_TYPE_NAMES is vocab.DEFAULT_TYPE_NAMES
    assert goals.GOAL_VECTOR_SIZE == 8 + len(vocab.CLASSES)
