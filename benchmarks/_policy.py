"""A cheap load-following policy used to drive the env in the speed and calibration benchmarks."""

from __future__ import annotations

import numpy as np


def backlog_policy(obs: dict[str, np.ndarray], w_offload: float, n_types: int) -> np.ndarray:
    """Offload a fixed fraction; give each edge server's CPU to the queues it holds in proportion
    to each queue's backlog plus its last arrivals (so busy queues get more).

    Σ a = 1 over the queues of each server (``obs["holder"]``; an observation without it is one
    server); a vehicle no server holds (holder -1) gets no share.
    """
    active = obs["active"].astype(bool)
    holder = np.where(active, np.asarray(obs["holder"]), -1) if "holder" in obs else np.where(active, 0, -1)
    demand = obs["edge_backlog_gcycles"] + 2.5e-4 * w_offload * obs["arrivals_bytes"] + 1e-6
    demand = np.where((holder >= 0)[:, None], demand, 0.0).astype(np.float64)
    srv = np.maximum(holder, 0)
    total = np.bincount(srv, weights=demand.sum(axis=1), minlength=int(srv.max(initial=0)) + 1)
    denom = total[srv][:, None]
    a = np.where(denom > 0.0, demand / np.where(denom > 0.0, denom, 1.0), 0.0)
    w = np.broadcast_to((active * w_offload)[:, None], a.shape)
    return np.stack((w, a)).astype(np.float32)
