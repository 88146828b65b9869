"""A cheap load-following policy used to drive the env in the speed and calibration benchmarks."""

from __future__ import annotations

import numpy as np


def backlog_policy(obs: dict[str, np.ndarray], w_offload: float, n_types: int) -> np.ndarray:
    """Offload a fixed fraction; give the edge CPU in proportion to each queue's backlog plus
    its last arrivals (so busy queues get more), over the active slots."""
    active = obs["active"].astype(np.float32)[:, None]
    demand = obs["edge_backlog_gcycles"] + 2.5e-4 * w_offload * obs["arrivals_bytes"] + 1e-6
    demand = demand * active
    a = demand / max(float(demand.sum()), 1e-12)
    w = np.broadcast_to(active * w_offload, a.shape)
    return np.stack((w, a)).astype(np.float32)
