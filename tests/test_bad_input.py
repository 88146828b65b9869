"""Bad actions: ``strict=True`` rejects them with ``InvalidActionError`` naming the entries and
leaves the env untouched; the default repairs them, counts the repair and behaves exactly as if the
repaired action had been given. Inactive slots are ignored whatever they hold."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import vecgym
import vecgym.actions
from vecgym import InvalidActionError

SEED = 11
N_VEHICLES = 8
PREFIX = 5  # valid steps before the bad one
TAIL = 15  # steps compared after it
NO_REPAIRS = {"dtype": 0, "nan": 0, "range": 0, "edge_budget": 0}

Case = tuple[Any, list[str], np.ndarray, dict[str, int]]
"""(bad action, substrings of the strict error, the repaired action, repairs by kind)."""


def _policy(env: gym.Env, obs: dict[str, np.ndarray], vh) -> np.ndarray:
    return vh.proportional_action(env, obs, w=0.5)


def _start(vh, strict: bool) -> tuple[gym.Env, dict[str, np.ndarray]]:
    """A ``VEC-v0`` after reset and ``PREFIX`` valid steps (TimeLimit at ``PREFIX + TAIL``)."""
    env = gym.make("VEC-v0", n_vehicles=N_VEHICLES, strict=strict, max_episode_steps=PREFIX + TAIL)
    obs, _ = env.reset(seed=SEED)
    for _ in range(PREFIX):
        obs, *_ = env.step(_policy(env, obs, vh))
    active = np.flatnonzero(obs["active"])
    assert 2 <= active.size < obs["active"].size  # some active and some inactive slots
    return env, obs


def _continue(vh, env: gym.Env, obs: dict[str, np.ndarray], n_steps: int) -> list[dict[str, Any]]:
    records = []
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(_policy(env, obs, vh))
        records.append(vh.make_record(obs, info, reward, terminated, truncated))
    return records


@pytest.fixture(scope="module")
def reference(vh) -> list[dict[str, Any]]:
    """The ``TAIL`` steps after the prefix of an env that never saw a bad action."""
    env, obs = _start(vh, strict=False)
    records = _continue(vh, env, obs, TAIL)
    assert records[-1]["truncated"]
    return records


# --- entry defects: rejected when strict, repaired otherwise -------------------------------------
def _nan_w(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[0]
    bad, fixed = base.copy(), base.copy()
    bad[0, n, 1] = np.nan
    fixed[0, n, 1] = 0.0
    return bad, ["NaN", f"[w, slot {n}, type 1]"], fixed, {"nan": 1}


def _nan_a_row(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[-1]
    bad, fixed = base.copy(), base.copy()
    bad[1, n, :] = np.nan
    fixed[1, n, :] = 0.0
    return bad, ["NaN", f"[a, slot {n}, type 0]", f"[a, slot {n}, type 2]"], fixed, {"nan": 3}


def _nan_all_w(base: np.ndarray, act: np.ndarray) -> Case:
    bad, fixed = base.copy(), base.copy()
    bad[0, act] = np.nan
    fixed[0, act] = 0.0
    n_bad = 3 * act.size
    return bad, ["NaN", f"[w, slot {act[0]}, type 0]", f"and {n_bad - 8} more"], fixed, {"nan": n_bad}


def _posinf_w(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[1]
    bad, fixed = base.copy(), base.copy()
    bad[0, n, 2] = np.inf
    fixed[0, n, 2] = 1.0
    return bad, ["outside [0, 1]", f"[w, slot {n}, type 2]"], fixed, {"range": 1}


def _neginf_a(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[0]
    bad, fixed = base.copy(), base.copy()
    bad[1, n, 0] = -np.inf
    fixed[1, n, 0] = 0.0
    return bad, ["outside [0, 1]", f"[a, slot {n}, type 0]"], fixed, {"range": 1}


def _negative_w(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[-1]
    bad, fixed = base.copy(), base.copy()
    bad[0, n, 1] = -0.25
    fixed[0, n, 1] = 0.0
    return bad, ["outside [0, 1]", f"[w, slot {n}, type 1]"], fixed, {"range": 1}


def _above_one_w(base: np.ndarray, act: np.ndarray) -> Case:
    n = act[0]
    bad, fixed = base.copy(), base.copy()
    bad[0, n, 0] = 1.5
    fixed[0, n, 0] = 1.0
    return bad, ["outside [0, 1]", f"[w, slot {n}, type 0]"], fixed, {"range": 1}


def _scaled_down(action: np.ndarray, active_mask: np.ndarray) -> np.ndarray:
    """The documented budget repair: a scaled radially to Σa = 1 over the active slots (float64)."""
    fixed = action.astype(np.float64) * active_mask[None, :, None]
    fixed[1] /= fixed[1].sum()
    return fixed


def _above_one_a(base: np.ndarray, act: np.ndarray) -> Case:
    """Clipping a = 1.5 to 1 leaves Σa > 1: two repairs."""
    n = act[1]
    bad, clipped = base.copy(), base.copy()
    bad[1, n, 0] = 1.5
    clipped[1, n, 0] = 1.0
    mask = np.zeros(base.shape[1], dtype=bool)
    mask[act] = True
    fixed = _scaled_down(clipped, mask)
    return bad, ["outside [0, 1]", f"[a, slot {n}, type 0]"], fixed, {"range": 1, "edge_budget": 1}


def _nan_and_range(base: np.ndarray, act: np.ndarray) -> Case:
    n, m = act[0], act[-1]
    bad, fixed = base.copy(), base.copy()
    bad[0, n, 0] = np.nan
    bad[1, m, 1] = -1.0
    fixed[0, n, 0] = 0.0
    fixed[1, m, 1] = 0.0
    return (
        bad,
        ["NaN", f"[w, slot {n}, type 0]", "outside [0, 1]", f"[a, slot {m}, type 1]"],
        fixed,
        {
            "nan": 1,
            "range": 1,
        },
    )


def _edge_budget(base: np.ndarray, act: np.ndarray) -> Case:
    bad = base.copy()
    bad[1] *= np.float32(1.5)
    mask = np.zeros(base.shape[1], dtype=bool)
    mask[act] = True
    return bad, ["sum", "1.5", "slot"], _scaled_down(bad, mask), {"edge_budget": 1}


def _int_dtype(base: np.ndarray, act: np.ndarray) -> Case:
    bad = np.zeros(base.shape, dtype=np.int64)
    bad[0, act] = 1
    bad[1, act[0], 0] = 1
    return bad, ["dtype", "int64"], bad.astype(np.float32), {"dtype": 1}


ENTRY_CASES: dict[str, Callable[[np.ndarray, np.ndarray], Case]] = {
    "nan_w": _nan_w,
    "nan_a_row": _nan_a_row,
    "nan_all_w": _nan_all_w,
    "posinf_w": _posinf_w,
    "neginf_a": _neginf_a,
    "negative_w": _negative_w,
    "above_one_w": _above_one_w,
    "above_one_a": _above_one_a,
    "nan_and_range": _nan_and_range,
    "edge_budget": _edge_budget,
    "int_dtype": _int_dtype,
}


def _case(name: str, env: gym.Env, obs: dict[str, np.ndarray], vh) -> Case:
    return ENTRY_CASES[name](_policy(env, obs, vh), np.flatnonzero(obs["active"]))


@pytest.mark.parametrize("name", ENTRY_CASES)
def test_strict_rejects_and_leaves_state_intact(name: str, vh, reference) -> None:
    env, obs = _start(vh, strict=True)
    bad, substrings, _, _ = _case(name, env, obs, vh)
    with pytest.raises(InvalidActionError) as excinfo:
        env.step(bad)
    message = str(excinfo.value)
    for part in substrings:
        assert part in message, (part, message)
    vh.assert_same_trajectory(_continue(vh, env, obs, TAIL), reference)
    assert env.unwrapped.episode_metrics()["action_repairs"] == 0


@pytest.mark.parametrize("name", ENTRY_CASES)
def test_lenient_repairs_like_the_repaired_action(name: str, vh) -> None:
    env, obs = _start(vh, strict=False)
    bad, _, fixed, repairs = _case(name, env, obs, vh)
    twin, _ = _start(vh, strict=False)
    a = vh.make_record(*_step_record_args(env.step(bad)))
    b = vh.make_record(*_step_record_args(twin.step(fixed)))
    assert _pop_repairs(a) == {**NO_REPAIRS, **repairs}
    assert _pop_repairs(b) == NO_REPAIRS
    vh.assert_same_trajectory([a], [b])
    obs_a = {k[4:]: v for k, v in a.items() if k.startswith("obs.")}
    obs_b = {k[4:]: v for k, v in b.items() if k.startswith("obs.")}
    vh.assert_same_trajectory(_continue(vh, env, obs_a, TAIL - 1), _continue(vh, twin, obs_b, TAIL - 1))
    assert env.unwrapped.episode_metrics()["action_repairs"] == sum(repairs.values())


def _pop_repairs(record: dict[str, Any]) -> dict[str, int]:
    prefix = "info.action_repairs."
    return {key[len(prefix) :]: record.pop(key) for key in list(record) if key.startswith(prefix)}


def _step_record_args(result: tuple) -> tuple:
    obs, reward, terminated, truncated, info = result
    return obs, info, reward, terminated, truncated


# --- shape and type defects: always rejected -----------------------------------------------------
def _object_array(base: np.ndarray) -> np.ndarray:
    out = np.empty(base.shape, dtype=object)
    out[...] = 0.5
    return out


MALFORMED: dict[str, tuple[Callable[[np.ndarray], Any], str]] = {
    # name: (builder from a valid action, what the message must name)
    "missing_type": (lambda base: base[:, :, :-1], "shape"),
    "extra_slot": (lambda base: np.concatenate([base, base[:, :1]], axis=1), "shape"),
    "one_row": (lambda base: base[0], "shape"),
    "batched": (lambda base: base[None], "shape"),
    "flat": (lambda base: base.ravel(), "shape"),
    "transposed": (lambda base: base.transpose(0, 2, 1), "shape"),
    "scalar": (lambda base: 0.5, "shape"),
    "empty_list": (lambda base: [], "shape"),
    "none": (lambda base: None, "shape"),
    "string": (lambda base: "0.5", "shape"),
    "ragged_list": (lambda base: [[0.1, 0.2], [0.3]], "array"),
    "string_array": (lambda base: np.full(base.shape, "0.5"), "dtype"),
    "object_array": (_object_array, "dtype"),
    "complex_array": (lambda base: base.astype(np.complex64), "dtype"),
}


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_action_always_raises_and_leaves_state_intact(name: str, strict: bool, vh, reference) -> None:
    env, obs = _start(vh, strict=strict)
    base = _policy(env, obs, vh)
    build, names = MALFORMED[name]
    with pytest.raises(InvalidActionError) as excinfo:
        env.step(build(base))
    message = str(excinfo.value)
    assert names in message, message
    if names == "shape":
        assert f"expected {base.shape}" in message, message
    vh.assert_same_trajectory(_continue(vh, env, obs, TAIL), reference)


def test_invalid_action_error_is_a_value_error() -> None:
    assert issubclass(vecgym.InvalidActionError, ValueError)


def test_nested_list_action_is_accepted(vh, reference) -> None:
    env, obs = _start(vh, strict=True)
    obs, reward, terminated, truncated, info = env.step(_policy(env, obs, vh).tolist())
    assert info["action_repairs"] == NO_REPAIRS
    records = [vh.make_record(obs, info, reward, terminated, truncated), *_continue(vh, env, obs, TAIL - 1)]
    vh.assert_same_trajectory(records, reference)


# --- inactive slots are ignored whatever they hold ----------------------------------------------
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 7.0, -3.0])
def test_inactive_slots_are_ignored(value: float, strict: bool, vh, reference) -> None:
    env, obs = _start(vh, strict=strict)
    action = _policy(env, obs, vh)
    action[:, ~obs["active"].astype(bool)] = value
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["action_repairs"] == NO_REPAIRS
    records = [vh.make_record(obs, info, reward, terminated, truncated), *_continue(vh, env, obs, TAIL - 1)]
    vh.assert_same_trajectory(records, reference)


# --- per-server budgets on the corridor ---------------------------------------------------------
def test_edge_budget_is_per_server_on_the_corridor() -> None:
    """Σa ≤ 1 holds per edge server: one server over budget is scaled (or, strict, rejected naming
    it) while the other servers' shares pass untouched; a rejected step changes nothing."""
    env = vecgym.VECEnv(preset="corridor", n_vehicles=60)
    obs, _ = env.reset(seed=4)
    holder = obs["holder"]
    servers = np.unique(holder[holder >= 0])
    assert servers.size >= 2
    over, fine = int(servers[0]), int(servers[1])
    action = np.zeros(env.action_space.shape, np.float32)
    action[1, holder == over, 0] = 1.0  # each queue asks for all of it: Σa = number of vehicles
    action[1, holder == fine, 0] = 0.5 / max(int((holder == fine).sum()), 1)
    _, a, repairs = vecgym.actions.check_action(action, obs["active"].astype(bool), env.n_task_types, False, holder)
    assert repairs["edge_budget"] == 1
    assert a[holder == over].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(a[holder == fine], action[1, holder == fine].astype(np.float64))

    strict = vecgym.VECEnv(preset="corridor", n_vehicles=60, strict=True)
    strict.reset(seed=4)
    before = pickle.dumps(strict.sim.engine)
    with pytest.raises(InvalidActionError, match=f"server {over}"):
        strict.step(action)
    assert pickle.dumps(strict.sim.engine) == before
