"""The slot problem and its model cost J(w, a): what one slot's decision is costed on, the link
rates under an offloading, the share problem's inputs, a pass's held state, and J by term
(``agents.lyapunov``: **Prices**, **Vehicle FIFOs**, **Edge**, **Horizon**)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vecgym.config import VECConfig
from vecgym.core import cells, radio

from .queues import _STABLE_EPS, _inv, fifo_cost, pooled_wait_cost


@dataclass
class SlotProblem:
    """Everything the model cost J(w, a) of one slot needs (shapes: H horizon slots, M vehicle
    slots, K types). Prices are in the reward's units."""

    cfg: VECConfig
    work: np.ndarray  # (H, M, K) expected new work (cycles) per horizon slot
    tasks: np.ndarray  # (H, M, K) expected new tasks
    cycles: np.ndarray  # (K,) mean cycles of a task
    bits: np.ndarray  # (K,) mean input bits of a task
    m2: np.ndarray  # (K,) 1 + CV² of the task size
    result_ratio: np.ndarray  # (K,)
    q: np.ndarray  # (M, K) QoS price per task-second
    energy_price: float  # reward units per joule (V·β_E / the reward's energy normaliser)
    local: np.ndarray  # (M,) cycles queued on the vehicle
    uplink: np.ndarray  # (M,) bits waiting to be uploaded
    downlink: np.ndarray  # (M,) result bits waiting
    edge: np.ndarray  # (M, K) edge cycles per queue
    active: np.ndarray  # (M,) bool
    cell: np.ndarray  # (M,) serving RSU, -1 in a gap
    holder: np.ndarray  # (M,) server holding the edge queues, -1 none
    offloadable: np.ndarray  # (M, K) bool: w may be > 0
    snr: np.ndarray  # (H, M) linear uplink SNR over the whole band

    @property
    def held(self) -> np.ndarray:
        return self.active & (self.holder >= 0)

    @property
    def server(self) -> np.ndarray:
        """(M,) server index of each vehicle's edge queues (0 where none; mask with ``held``)."""
        return np.maximum(self.holder, 0)


def offload_safe(obs: dict[str, np.ndarray], cfg: VECConfig, deadline_s: np.ndarray) -> np.ndarray:
    """(M, K) True where the vehicle will neither leave the road nor enter a coverage gap within
    a deadline of the type (``deadline_s`` (K,)), from the observed position, speed and distance
    to the next change of serving cell: a part offloaded there comes back in time."""
    x = obs["position_m"][:, 0].astype(np.float64)
    v = np.maximum(obs["speed_mps"].astype(np.float64), 1.0)
    t_exit = (cfg.road_length_m - x) / v
    if "distance_to_handover_m" in obs:
        d = obs["distance_to_handover_m"].astype(np.float64)
        beyond = cells.serving_cell(np.minimum(x + d + 20.0, cfg.road_length_m - 1e-6), cfg)
        t_gap = np.where((beyond < 0) & (x + d < cfg.road_length_m), d / v, np.inf)
    else:
        t_gap = np.full(x.shape, np.inf)
    return (t_exit[:, None] > deadline_s[None, :]) & (t_gap[:, None] > deadline_s[None, :])


def _cpb(cfg: VECConfig) -> np.ndarray:
    return np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)


def _edge_j_full(cfg: VECConfig) -> float:
    """κ_e·F_e²: joules of an edge cycle at S = 1."""
    return cfg.kappa_edge_value * cfg.edge_cpu_hz**2


def shared_band_rate(
    cfg: VECConfig, snr_full: np.ndarray, users: np.ndarray, band_hz: float, power_ratio: float
) -> np.ndarray:
    """Rate (bit/s) of a link that shares ``band_hz`` equally among ``users`` (≥ 1), given the SNR
    it would have alone on the uplink's whole band (noise model and spectral-efficiency cap as in
    ``vecgym.core.radio``)."""
    b = band_hz / np.maximum(users, 1.0)
    gain = snr_full * radio.noise_w(cfg.bandwidth_hz, cfg) * power_ratio
    return np.where(snr_full > 0.0, radio.rate_bps(b, gain / radio.noise_w(b, cfg), cfg.max_spectral_efficiency), 0.0)


def link_rates(p: SlotProblem, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uplink and downlink rates (H, M) of each vehicle if it uses the link, under offloading ``w``.

    The band of a cell is split equally among its users (physics): the covered vehicles with
    bits waiting or about to send; a vehicle counts itself in. Noise and the spectral-efficiency
    cap as in ``vecgym.core.radio``.
    """
    cfg = p.cfg
    covered = p.active & (p.cell >= 0)
    cell = np.maximum(p.cell, 0)
    n_srv = cfg.n_servers
    bits = w[None] * p.work * (8.0 / _cpb(cfg))
    out = []
    for busy_now, new, band_hz, power in (
        (p.uplink > 0.0, bits.sum(2) > 0.0, cfg.bandwidth_hz, cfg.tx_power_w),
        (p.downlink > 0.0, (bits * p.result_ratio).sum(2) > 0.0, cfg.downlink_bandwidth_hz, cfg.rsu_tx_power_w),
    ):
        users = covered[None] & (busy_now[None] | new)
        rates = np.zeros(p.snr.shape)
        for h in range(p.snr.shape[0]):
            n_cell = np.bincount(cell[users[h]], minlength=n_srv)
            n = n_cell[cell] - users[h] + 1  # the others in the cell, plus this vehicle
            rates[h] = np.where(covered, shared_band_rate(cfg, p.snr[h], n, band_hz, power / cfg.tx_power_w), 0.0)
        out.append(rates)
    return out[0], out[1]


def _per_server(p: SlotProblem, x: np.ndarray) -> np.ndarray:
    """Σ over each server's queues of x (M, K) or (M,), (n_servers,)."""
    x = x.sum(1) if x.ndim == 2 else x
    held = p.held
    return np.bincount(p.server[held], weights=x[held], minlength=p.cfg.n_servers)


@dataclass
class EdgeInputs:
    """The share problem under an offloading w: per queue c (M, K); per server the pooled-wait
    numerator d = (Σ q·n)·(Σ n·s²·m2)/(2·τ·F²), the offered load L (in shares) and the energy
    coefficient B = e·κ_e·F_e²·W (W the work at the server); and the sums behind d."""

    c: np.ndarray
    d: np.ndarray
    load: np.ndarray
    energy_coef: np.ndarray
    qn: np.ndarray  # (n_servers,) Σ q·n of the new tasks
    v: np.ndarray  # (n_servers,) Σ n·s²·m2 of the new tasks (cycles²)
    backlog_part: np.ndarray  # (n_servers,) β: the backlog's part of Σ c (it drains at S - L)


def edge_inputs(p: SlotProblem, w: np.ndarray) -> EdgeInputs:
    """The share problem's inputs under offloading ``w`` (horizon means of the new work)."""
    cfg = p.cfg
    F, tau = cfg.edge_cpu_hz, cfg.slot_s
    P = p.edge[None] + w[None] * p.work
    N = (p.q / p.cycles)[None] * (P * P + P * p.cycles) / 2.0
    c = np.where(p.held[:, None], N.mean(0) / F, 0.0)
    Bq = p.edge
    c_backlog = np.where(p.held[:, None], (p.q / p.cycles) * (Bq * Bq + Bq * p.cycles) / 2.0 / F, 0.0)
    c_sum = _per_server(p, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(c_sum > 0.0, _per_server(p, c_backlog) / c_sum, 0.0)
    n = w * p.tasks.mean(0)
    qn = _per_server(p, p.q * n)
    v = _per_server(p, n * p.cycles**2 * p.m2)
    load = _per_server(p, w * p.work.mean(0)) / (tau * F)
    W = _per_server(p, p.edge + w * p.work.mean(0))
    return EdgeInputs(c, qn * v / (2.0 * tau * F * F), load, p.energy_price * _edge_j_full(cfg) * W, qn, v, beta)


@dataclass
class PassState:
    """What a pass holds fixed while it minimises over w: link rates (they depend on who uploads),
    each FIFO backlog's QoS price per unit and task size (from the mix routed there), the share
    each edge queue is costed at (a prospective one for a queue with no share yet), and each
    server's speed S and spare share S - L (the offloading step lets S follow the offered load)."""

    r_up: np.ndarray  # (H, M) bit/s
    r_dl: np.ndarray  # (H, M) bit/s
    psi: dict[str, np.ndarray]  # 'local' | 'up' | 'dl' -> (M,) price per unit-second of backlog
    size: dict[str, np.ndarray]  # -> (M,) task size of the backlog
    share: np.ndarray  # (M, K)
    speed: np.ndarray  # (n_servers,) S = Σ a
    spare: np.ndarray  # (n_servers,) S - L
    dilution: np.ndarray  # (n_servers,) 1 + β·L/(S - L), held in the offloading step


def backlog_prices(p: SlotProblem, w: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each FIFO backlog's QoS price per unit-second ψ and mean task size, (M,) per queue kind
    (local, up, dl), from the mix of work w routes there (the config's mix where none does)."""
    m = p.tasks.mean(0)  # (M, K)
    rate = np.asarray(p.cfg.per_type("task_rate_hz"), dtype=np.float64)
    prior = (rate / rate.sum())[None, :]
    psi, size = {}, {}
    for key, frac, unit in (
        ("local", 1.0 - w, p.cycles),
        ("up", w, p.bits),
        ("dl", w * (p.result_ratio > 0.0), p.bits * p.result_ratio),
    ):
        n = frac * m
        n = np.where(n.sum(1, keepdims=True) > 0.0, n, prior * (unit > 0.0))
        units = (n * unit).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            psi[key] = np.where(units > 0.0, (n * p.q).sum(1) / units, 0.0)
        size[key] = units / np.maximum(n.sum(1), 1e-300)
    return psi, size


def pass_state(p: SlotProblem, w: np.ndarray, a: np.ndarray) -> PassState:
    """Rates, backlog prices and edge shares for a pass starting from (w, a)."""
    r_up, r_dl = link_rates(p, w)
    psi, size = backlog_prices(p, w)
    # A queue with no share yet is costed at the share it would get with all its work offloaded.
    e_in = edge_inputs(p, w)
    c = e_in.c
    c_full = edge_inputs(p, np.ones_like(w)).c
    S = _per_server(p, a)
    R = _per_server(p, np.sqrt(c))
    s_of, r_of = S[p.server][:, None], R[p.server][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        prospective = np.nan_to_num(s_of * np.sqrt(c_full) / (r_of + np.sqrt(c_full)))
    share = np.where(a > 0.0, a, np.where(p.held[:, None], prospective, 0.0))
    T, _ = _inv(S - e_in.load, _STABLE_EPS)
    return PassState(
        r_up, r_dl, psi, size, share, speed=S, spare=S - e_in.load, dilution=1.0 + e_in.backlog_part * e_in.load * T
    )


def model_terms(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState | None = None) -> dict[str, float]:
    """J(w, a) by term, in the reward's units: QoS of the local, uplink, edge and downlink queues;
    energy of local computing, upload, download and the edge. ``ps`` fixes the link rates and
    backlog prices (default: those of ``w``)."""
    cfg = p.cfg
    ps = pass_state(p, w, a) if ps is None else ps
    tau, f_v, F = cfg.slot_s, cfg.vehicle_cpu_hz, cfg.edge_cpu_hz
    n_loc = (1.0 - w)[None] * p.tasks
    n_up = w[None] * p.tasks
    has_res = p.result_ratio > 0.0
    q = p.q[None]
    loc = fifo_cost(
        n_loc, p.cycles, p.m2, q, p.local, ps.psi["local"], ps.size["local"], np.full(p.snr.shape, f_v) * p.active, tau
    )
    up = fifo_cost(n_up, p.bits, p.m2, q, p.uplink, ps.psi["up"], ps.size["up"], ps.r_up, tau)
    dl = fifo_cost(
        n_up * has_res, p.bits * p.result_ratio, p.m2, q, p.downlink, ps.psi["dl"], ps.size["dl"], ps.r_dl, tau
    )
    e_in = edge_inputs(p, w)
    S = _per_server(p, a)
    if ((e_in.c > 0.0) & (a <= 0.0)).any():
        qos_edge = math.inf
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            A = _per_server(p, np.where(e_in.c > 0.0, e_in.c / np.where(a > 0.0, a, 1.0), 0.0))
        wait = pooled_wait_cost(e_in.qn, e_in.v, S, e_in.load, F, tau)
        T, _ = _inv(S - e_in.load, _STABLE_EPS)
        qos_edge = float((A * (1.0 + e_in.backlog_part * e_in.load * T) + wait).sum())
    e = p.energy_price
    bits_up = (n_up * p.bits).sum(2)
    bits_dl = (n_up * p.bits * p.result_ratio).sum(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        j_up = np.where(bits_up > 0.0, cfg.tx_power_w * bits_up / ps.r_up, 0.0)
        j_dl = np.where(bits_dl > 0.0, cfg.rsu_tx_power_w * bits_dl / ps.r_dl, 0.0)
    W = _per_server(p, p.edge + w * p.work.mean(0))
    return {
        "qos_local": float(loc.mean(0).sum()),
        "qos_uplink": float(up.mean(0).sum()),
        "qos_edge": qos_edge,
        "qos_downlink": float(dl.mean(0).sum()),
        "energy_local": e * cfg.kappa_vehicle * f_v**2 * float(((1.0 - w)[None] * p.work).sum(axis=(1, 2)).mean()),
        "energy_upload": e * float(j_up.sum(1).mean()),
        "energy_download": e * float(j_dl.sum(1).mean()),
        "energy_edge": e * _edge_j_full(cfg) * float((S * S * W).sum()),
    }


def model_cost(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState | None = None) -> float:
    """J(w, a): the model's cost of the decision, in the reward's units (mean over the horizon)."""
    return float(sum(model_terms(p, w, a, ps).values()))


QOS_QUEUES = ("local", "uplink", "edge", "downlink")
"""The queues of ``queue_qos_costs``: ``qos_<queue>`` matches the term of ``model_terms``."""


def queue_qos_costs(
    p: SlotProblem,
    w: np.ndarray,
    a: np.ndarray,
    ps: PassState | None = None,
    deadline_s: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The QoS part of J(w, a) per vehicle and queue, and the bound the reward puts on it.

    Not used by the solvers (``model_terms`` is theirs, unchanged). Returns (M,) arrays (horizon
    means, reward units):

    * ``qos_local``, ``qos_uplink``, ``qos_downlink``: each vehicle's FIFO cost, as in
      ``model_terms`` (their sums over the vehicles are its terms, bit for bit);
    * ``qos_edge``: each vehicle's part of its server's edge cost: Σ_k c_k/a_k of its own queues
      times the server's backlog dilution, plus the server's pooled M/G/1 wait split over the
      vehicles in proportion to the new edge work each sends there (the wait is the new tasks');
      +inf for a vehicle with an edge queue that has work and no share (its work would stall).
      The sum over vehicles is ``model_terms``' ``qos_edge`` up to rounding;
    * ``cap_<queue>``: the most the reward can charge for the tasks in that queue.

    **The bound.** The reward charges a task its weight × min(latency / D_eff, cap) divided by the
    reward's task normaliser (``vecgym.reward``; D_eff = deadline · goal.deadline_scale, cap =
    ``cfg.qos_cost_cap``); a task failed or dropped is charged the whole cap. The model's price is
    q = β_Q·ω / (D_eff · norm) per task-second (``agents.lyapunov.prices.slot_prices``), so the
    model charges a task q·latency and the reward at most

        q · D_eff · cap   per task   (= β_Q·ω·cap/norm: the same for every type of a vehicle).

    The tasks in a queue this slot are the new ones the decision routes there (n_k of the horizon
    slot, as in the model) plus the backlog as tasks: a FIFO's backlog B (cycles or bits) holds
    B / s_B tasks, s_B the mean task size of the mix the model prices it with (``ps.size``), each
    at the mix's mean q·D_eff (the same n-weighted mix as ``ps.psi``: ψ_B·s_B is its mean q); an
    edge queue's backlog holds edge_k / cycles_k tasks of its own type. So, per vehicle,

        cap_<queue> = cap · mean_h [ Σ_k n_k,h · q_k·D_eff,k + (B / s_B) · mean_mix(q·D_eff) ]

    an upper bound: a backlog task has already been charged for its age. ``deadline_s`` (K,) is
    D_eff, the goal's deadlines (default the config's, deadline_scale 1); ``ps`` the link rates
    and backlog prices (default those of ``w``, as ``model_terms``).
    """
    cfg = p.cfg
    ps = pass_state(p, w, a) if ps is None else ps
    tau, f_v, F = cfg.slot_s, cfg.vehicle_cpu_hz, cfg.edge_cpu_hz
    d_eff = np.asarray(cfg.per_type("deadline_s") if deadline_s is None else deadline_s, dtype=np.float64)
    n_loc = (1.0 - w)[None] * p.tasks
    n_up = w[None] * p.tasks
    has_res = p.result_ratio > 0.0
    q = p.q[None]
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r_loc = np.full(p.snr.shape, f_v) * p.active
        loc = fifo_cost(n_loc, p.cycles, p.m2, q, p.local, ps.psi["local"], ps.size["local"], r_loc, tau)
        up = fifo_cost(n_up, p.bits, p.m2, q, p.uplink, ps.psi["up"], ps.size["up"], ps.r_up, tau)
        dl = fifo_cost(
            n_up * has_res, p.bits * p.result_ratio, p.m2, q, p.downlink, ps.psi["dl"], ps.size["dl"], ps.r_dl, tau
        )
        out["qos_local"], out["qos_uplink"], out["qos_downlink"] = loc.mean(0), up.mean(0), dl.mean(0)
        # Edge, per vehicle (model_terms: Σ_server [A·dilution + wait]).
        e_in = edge_inputs(p, w)
        S = _per_server(p, a)
        stall = (e_in.c > 0.0) & (a <= 0.0)
        own = np.where(e_in.c > 0.0, e_in.c / np.where(a > 0.0, a, 1.0), 0.0)
        own = np.where(stall, math.inf, own).sum(1)
        T, _ = _inv(S - e_in.load, _STABLE_EPS)
        dilution = 1.0 + e_in.backlog_part * e_in.load * T
        wait = pooled_wait_cost(e_in.qn, e_in.v, S, e_in.load, F, tau)
        new_edge = np.where(p.held, (w * p.work.mean(0)).sum(1), 0.0)
        total_new = _per_server(p, new_edge)[p.server]
        frac = np.where(p.held & (total_new > 0.0), new_edge / np.where(total_new > 0.0, total_new, 1.0), 0.0)
        srv = p.server
        edge = np.where(own > 0.0, own * dilution[srv], 0.0) + np.where(frac > 0.0, wait[srv] * frac, 0.0)
        out["qos_edge"] = np.where(p.held, edge, 0.0)
    # The reward's bound: tasks in the queue × q·D_eff·cap each.
    cap = float(cfg.qos_cost_cap)
    u = p.q * d_eff[None, :]  # (M, K) a task's cost at one effective deadline
    m = p.tasks.mean(0)
    rate = np.asarray(cfg.per_type("task_rate_hz"), dtype=np.float64)
    prior = (rate / rate.sum())[None, :]
    for key, psk, new, frac_k, unit, backlog in (
        ("local", "local", n_loc, 1.0 - w, p.cycles, p.local),
        ("uplink", "up", n_up, w, p.bits, p.uplink),
        ("downlink", "dl", n_up * has_res, w * has_res, p.bits * p.result_ratio, p.downlink),
    ):
        mix = frac_k * m  # the mix behind ps.psi / ps.size (pass_state)
        mix = np.where(mix.sum(1, keepdims=True) > 0.0, mix, prior * (unit > 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            u_mix = np.where(mix.sum(1) > 0.0, (mix * u).sum(1) / mix.sum(1), 0.0)
            n_backlog = np.where(ps.size[psk] > 0.0, backlog / ps.size[psk], 0.0)
        out[f"cap_{key}"] = cap * ((new * u[None]).sum(2).mean(0) + n_backlog * u_mix)
    with np.errstate(divide="ignore", invalid="ignore"):
        edge_tasks = np.where(p.held[:, None], p.edge / p.cycles + w * m, 0.0)
    out["cap_edge"] = cap * (edge_tasks * u).sum(1)
    return out
