"""Shared helpers of the vecgym tests: fixed action sequences, rollouts and trajectory digests.

The helpers are plain functions exposed through the ``vh`` fixture (``from conftest import`` is
fragile when several ``conftest.py`` exist); ``seeded_digest`` also runs in a subprocess that loads
this file by path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import vecgym  # noqa: F401  (registers the env ids)

Record = dict[str, Any]
"""One step flattened to ``{"obs.<key>": array, "reward": float, "info.metrics.<key>": float, ...}``."""


def fixed_actions(env: gym.Env, n_steps: int, seed: int = 1234) -> list[np.ndarray]:
    """``n_steps`` valid float32 actions: w uniform in [0, 1), a random with Σa = 0.95 over all slots."""
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    assert shape is not None
    out = []
    for _ in range(n_steps):
        act = rng.random(shape).astype(np.float32)
        act[1] *= np.float32(0.95) / act[1].sum()
        out.append(act)
    return out


def proportional_action(env: gym.Env, obs: dict[str, np.ndarray], w: float = 0.76) -> np.ndarray:
    """Offload ``w`` of every task; edge shares proportional to the per-type arrival rates, Σa = 1."""
    rate = np.asarray(env.unwrapped.cfg.per_type("task_rate_hz"), dtype=np.float64)  # type: ignore[attr-defined]
    act_mask = obs["active"].astype(bool)
    shape = env.action_space.shape
    assert shape is not None
    action = np.zeros(shape, dtype=np.float32)
    action[0, act_mask] = w
    action[1, act_mask] = rate / (rate.sum() * max(int(act_mask.sum()), 1))
    return action


def _flatten(prefix: str, value: Any, out: Record) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, np.ndarray):
        out[prefix] = value.copy()
    else:
        out[prefix] = value


def make_record(
    obs: dict[str, np.ndarray], info: dict[str, Any], reward: Any = None, terminated: Any = None, truncated: Any = None
) -> Record:
    """Flatten one reset or step result into a record."""
    out: Record = {}
    _flatten("", {"obs": obs, "info": info, "reward": reward, "terminated": terminated, "truncated": truncated}, out)
    return out


def _encode(value: Any) -> bytes:
    """Exact, process-independent bytes of a leaf value (NaN-safe)."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype.str}{value.shape}".encode() + np.ascontiguousarray(value).tobytes()
    if isinstance(value, float | np.floating):
        return b"f" + np.float64(value).tobytes()
    if isinstance(value, bool | np.bool_):
        return b"b" + repr(bool(value)).encode()
    if isinstance(value, int | np.integer):
        return b"i" + str(int(value)).encode()
    return b"r" + repr(value).encode()


def rollout(env: gym.Env, actions: Sequence[np.ndarray]) -> list[Record]:
    """Step ``env`` through ``actions`` (no reset) and record every step."""
    records = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        records.append(make_record(obs, info, reward, terminated, truncated))
    return records


def assert_same_trajectory(a: Sequence[Record], b: Sequence[Record]) -> None:
    """Fail with the first step and the keys where two trajectories differ (bit for bit)."""
    assert len(a) == len(b), f"trajectory lengths differ: {len(a)} != {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b, strict=True)):
        keys = sorted(set(ra) | set(rb))
        diff = [k for k in keys if k not in ra or k not in rb or _encode(ra[k]) != _encode(rb[k])]
        if diff:
            pytest.fail(f"trajectories diverge at step {i} in {diff}")


def trajectory_digest(records: Sequence[Record]) -> str:
    """SHA-256 of a trajectory (every key and leaf, in a fixed order)."""
    h = hashlib.sha256()
    for rec in records:
        for key in sorted(rec):
            h.update(key.encode() + b"=" + _encode(rec[key]) + b";")
    return h.hexdigest()


def seeded_digest(seed: int, n_steps: int, n_vehicles: float = 8) -> str:
    """Digest of reset(seed) plus ``n_steps`` fixed actions of ``VEC-v0`` (used across processes)."""
    env = gym.make("VEC-v0", n_vehicles=n_vehicles)
    obs, info = env.reset(seed=seed)
    records = [make_record(obs, info), *rollout(env, fixed_actions(env, n_steps))]
    return trajectory_digest(records)


# --- fixture exposing the helpers ---------------------------------------------------------------
@pytest.fixture(scope="session")
def vh() -> SimpleNamespace:
    """The helpers of this file, e.g. ``vh.rollout(env, actions)``."""
    return SimpleNamespace(
        fixed_actions=fixed_actions,
        proportional_action=proportional_action,
        make_record=make_record,
        rollout=rollout,
        assert_same_trajectory=assert_same_trajectory,
        trajectory_digest=trajectory_digest,
        seeded_digest=seeded_digest,
    )
