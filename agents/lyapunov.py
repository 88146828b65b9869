"""The Lyapunov drift-plus-penalty family: ``dpp`` (reactive) and ``sp-dpp`` (proactive, goal-aware).

Each slot solves the paper's P3 (eq. 1-2) in a structured way, for every edge queue q = (n, k)
and every vehicle n:

* **Edge shares.** With E_q the work the queue will hold (backlog plus the expected offloaded
  arrivals, cycles) and s = a·F_e its speed, the slot's cost of queue q is

      f_q(a) = c3·a³ + c_inv / a - c1·a,
      c3    = V·β_E·κ_e·F_e³·τ / (e_v·W)      (energy of running at speed a·F_e for the slot),
      c_inv = β_Q·ω_q·E_q² / (2·F_e·D·W)      (waiting-time area of E_q at speed a·F_e),
      c1    = β_Q·ω_q·E_q·τ / (D·W)           (drift: backlog served by a busy slot),

  with ω_q the goal's QoS weight, D the deadline times ``deadline_scale``, e_v = κ_v·f_v² the
  energy of a local cycle and W = Σ E_q the work at the edge: latency is counted in deadlines
  and energy in local-cycle units, both per cycle of work, as the env's reward normalises them. f_q is convex for
  a > 0; with a multiplier λ for Σ a ≤ 1 the stationarity condition
  3·c3·a⁴ + (λ - c1)·a² - c_inv = 0 is a quadratic in a², so each a_q(λ) is closed form, and λ
  is found by a bracketed root search (``solve_edge_shares``), to 1e-12 on Σ a.
* **Fairness.** With ``goal.fairness`` > 0 a vehicle's QoS weight grows with how far its queued
  work exceeds the road's mean, so that no vehicle is left behind.
* **Offloading.** Given the shares, the marginal cost of a cycle at the edge (upload time and
  energy at the vehicle's share of the band, edge waiting and energy) is compared with the
  cost of a cycle on the vehicle's own CPU, whose waiting grows with the work already queued
  there (waiting time is quadratic in the local work). Every type of a vehicle keeps the same local
  fraction, and the fraction minimising this convex quadratic is closed form
  (``best_local_fraction``, checked against scipy in the tests). Two passes alternate shares and
  offloading (block-coordinate steps: each is exact given the other, the pair is not certified
  jointly optimal).
* **Horizon.** The solver takes H slots of inputs (new work and uplink SNR per slot) and holds one
  decision over them (a receding horizon with a single blocked move): the objective is the mean
  over h of slot h's cost, each evaluated on the current backlogs plus slot h's arrivals (the
  queue coupling between horizon slots is not modelled). Means of E and E² keep the per-queue
  closed form. The first decision is applied and the problem is solved again next slot.

``dpp`` uses the current observation (H = 1) and the balanced goal. ``sp-dpp`` feeds the solver
the twin's H-slot forecasts (arrivals and median rates per slot; vehicles predicted to leave the
road keep their work local) and follows the operator's commands through
``vecgym.goals.parse_command``, honouring their expiry. ``oracle`` feeds it the true next H slots.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from twins import PredictiveTwin
from vecgym.config import CLASSES
from vecgym.goals import BALANCED, GoalSpec, parse_command

_BISECT_ITERS = 200


def edge_share_given_lambda(lam: float | np.ndarray, c1: np.ndarray, c3: np.ndarray, c_inv: np.ndarray) -> np.ndarray:
    """argmin over a in [0, 1] of c3·a³ + c_inv/a - c1·a + λ·a, per queue (closed form)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _share(lam, c1, c3, c_inv)


def _share(lam: float | np.ndarray, c1: np.ndarray, c3: np.ndarray, c_inv: np.ndarray) -> np.ndarray:
    # Callers silence divide/invalid warnings: the where() calls pick the finite branch.
    d = c1 - lam
    root = np.sqrt(d * d + 12.0 * c3 * c_inv)
    # a² = (d + root) / (6 c3), written to stay accurate when d < 0 and when c3 → 0.
    a2 = np.where(d >= 0.0, (d + root) / (6.0 * c3), 2.0 * c_inv / (root - d))
    a2 = np.where(c3 > 0.0, a2, np.where(d < 0.0, c_inv / -d, np.inf))
    a = np.sqrt(np.nan_to_num(a2, nan=0.0, posinf=1.0))
    # A queue with nothing to serve and no drift to gain gets no share.
    a[(c_inv <= 0.0) & (c1 <= 0.0)] = 0.0
    return np.clip(a, 0.0, 1.0, out=a)


def solve_edge_shares(c1: np.ndarray, c3: np.ndarray, c_inv: np.ndarray, budget: float = 1.0) -> np.ndarray:
    """Shares a ≥ 0 minimising Σ c3·a³ + c_inv/a - c1·a subject to Σ a ≤ budget.

    If the unconstrained optimum fits the budget it is returned; otherwise λ > 0 is bisected so
    that Σ a(λ) = budget: Σ a(λ) decreases in λ, and the Illinois method (regula falsi) runs
    until the feasible end of the bracket has Σ a within 1e-12 of the budget.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a = _share(0.0, c1, c3, c_inv)
        if a.sum() <= budget:
            return a
        # For λ ≥ max c1, a_q ≤ sqrt(c_inv_q / (λ - c1_q)): this λ already fits the budget.
        lo = 0.0
        hi = float(c1.max()) + float(np.sqrt(c_inv).sum()) ** 2 / budget**2 + 1e-300
        while _share(hi, c1, c3, c_inv).sum() > budget:  # guards rounding only
            hi *= 2.0
        # Illinois (regula falsi) on g(λ) = Σ a(λ) - budget, decreasing in λ: a handful of
        # evaluations instead of ~35 for bisection; the bracket [lo, hi] always holds the root.
        g_lo = float(_share(lo, c1, c3, c_inv).sum()) - budget
        g_hi = float(_share(hi, c1, c3, c_inv).sum()) - budget
        side = 0
        for _ in range(_BISECT_ITERS):
            mid = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
            if not lo < mid < hi:
                mid = 0.5 * (lo + hi)
            g_mid = float(_share(mid, c1, c3, c_inv).sum()) - budget
            if g_mid > 0.0:
                lo, g_lo = mid, g_mid
                if side == -1:
                    g_hi *= 0.5
                side = -1
            else:
                hi, g_hi = mid, g_mid
                if side == 1:
                    g_lo *= 0.5
                side = 1
            if -g_hi <= 1e-12 * budget or hi - lo <= 1e-13 * hi:
                break
        return _share(hi, c1, c3, c_inv)


def goal_weights(obs: dict[str, np.ndarray], goal: GoalSpec) -> np.ndarray:
    """QoS weight of every slot under ``goal`` (class weight × vehicle weight), shape (M,).

    Computed from the agent's own goal, the observed ids and classes: the env's ground-truth
    ``qos_weight`` observation is not used, so an agent that ignores commands stays balanced.
    """
    cls = np.asarray([goal.class_weights.get(c, 1.0) for c in CLASSES])
    w = cls[np.argmax(obs["vehicle_class"], axis=1)]
    for vid, vw in goal.vehicle_weights.items():
        w = np.where(obs["vehicle_id"] == vid, w * vw, w)
    return np.where(obs["active"] > 0, w, 1.0)


def slot_objective(a: np.ndarray, c1: np.ndarray, c3: np.ndarray, c_inv: np.ndarray) -> float:
    """Σ_q c3·a³ + c_inv/a - c1·a (inf where a queue with work gets no share)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(c_inv > 0.0, c_inv / a, 0.0)
    return float((c3 * a**3 + inv - c1 * a).sum())


class DPPAgent:
    """Reactive drift-plus-penalty on the current observation, with a fixed (balanced) goal."""

    name = "dpp"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 2):
        core: Any = env.unwrapped
        self.cfg = core.cfg
        self.v = v
        self.passes = passes
        cfg = self.cfg
        self.K = cfg.n_task_types
        self.cpb = np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)
        self.deadline = np.asarray(cfg.per_type("deadline_s"), dtype=np.float64)
        self.kappa_e = cfg.kappa_edge_value
        self.goal: GoalSpec = BALANCED

    def reset(self, seed: int | None = None) -> None:
        self.goal = BALANCED

    # ------------------------------------------------------------------------------------------
    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per horizon slot h: expected new work (cycles, (H, M, K)) and uplink SNR (linear, (H, M));
        and whether each slot's vehicle stays on the road over the horizon ((M,)). Here H = 1."""
        active = obs["active"].astype(bool)
        work = obs["arrivals_bytes"].astype(np.float64) * self.cpb
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0)
        return (work * active[:, None])[None], (snr * active)[None], active

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        work, snr, stay = self._inputs(obs, info)
        w, a = self.decide(obs, work, snr, stay, self.goal)
        return np.stack((w, a)).astype(np.float32)

    def decide(
        self, obs: dict[str, np.ndarray], work: np.ndarray, snr: np.ndarray, stay: np.ndarray, goal: GoalSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offload ratios and edge shares, both (M, K), minimising the horizon-mean slot cost.

        ``work`` (H, M, K) is the new work (cycles) expected in each of the H coming slots and
        ``snr`` (H, M) the uplink SNR; the decision is held over the horizon (one blocked move)
        and the cost of slot h is evaluated on the current backlogs plus slot h's arrivals.
        """
        cfg = self.cfg
        active = obs["active"].astype(bool)
        M, K = active.shape[0], self.K
        tau, F, f_v = cfg.slot_s, cfg.edge_cpu_hz, cfg.vehicle_cpu_hz
        d_eff = self.deadline[None, :] * goal.deadline_scale
        weight = goal_weights(obs, goal)
        if goal.fairness > 0.0:
            # Fairness: vehicles whose queued work (in seconds of their own service) is above the
            # road's mean get their QoS weight raised in proportion, so none is left behind.
            queued_s = obs["local_backlog_gcycles"] * 1e9 / f_v + obs["edge_backlog_gcycles"].sum(1) * 1e9 / F
            mean_s = float(queued_s[active].mean()) if active.any() else 0.0
            excess = np.maximum(queued_s / max(mean_s, 1e-9) - 1.0, 0.0)
            weight = weight * (1.0 + goal.fairness * excess)
        weight = weight[:, None] * np.ones((1, K))
        b_q, b_e = goal.beta_qos, goal.beta_energy
        backlog = obs["edge_backlog_gcycles"].astype(np.float64) * 1e9
        local = obs["local_backlog_gcycles"].astype(np.float64) * 1e9
        n_up = max(int(active.sum()), 1)
        band = cfg.bandwidth_hz / n_up
        r_up = np.maximum(band * np.log2(1.0 + snr), 1.0)  # (H, M) bit/s at an equal share of the band
        # Time per offloaded cycle spent on the uplink (8 bits per byte, c cycles per byte), (H, M, K).
        up_s_per_cycle = 8.0 / (self.cpb[None, None, :] * r_up[:, :, None])
        e_local = cfg.kappa_vehicle * f_v**2  # J per local cycle: the unit of energy below

        uplink_bits = obs["uplink_backlog_kbit"].astype(np.float64) * 1e3
        mean_w_over_d = np.mean(weight / d_eff, axis=1)  # (M,) QoS weight per deadline second
        gamma = b_q * mean_w_over_d / f_v  # (M,) cost of a cycle-second of local waiting
        total = work.sum(2)  # (H, M) new work per slot
        w = np.where(active & stay, 1.0, 0.0)[:, None] * np.ones((1, K))
        a = np.zeros((M, K))
        for _ in range(self.passes):
            # Edge shares for the work the queues will hold with the current offloading; the
            # horizon mean of each queue's cost keeps the per-queue closed form (sums of E and E²).
            E = (backlog + w * work) * active[:, None]  # (H, M, K)
            e_tot = max(float(E.sum(axis=(1, 2)).mean()), 1.0)
            c_inv = (b_q * weight * E * E / (2.0 * F * d_eff)).mean(0) / e_tot
            c1 = (b_q * weight * E * tau / d_eff).mean(0) / e_tot
            c3 = np.where(E.max(0) > 0.0, self.v * b_e * self.kappa_e * F**3 * tau / (e_local * e_tot), 0.0)
            a = solve_edge_shares(c1.ravel(), c3.ravel(), c_inv.ravel()).reshape(M, K) * active[:, None]
            # Offloading: marginal cost of one more cycle at the edge in each horizon slot
            # (latency in deadlines, energy in units of a local cycle's energy), given the shares.
            speed = np.maximum(a * F, 1e-6 * F)
            up_delay = (uplink_bits + 8.0 * (w * work / self.cpb).sum(2)) / r_up  # (H, M) s
            m_edge = (
                b_q * weight * (up_delay[:, :, None] + E / speed) / d_eff
                + self.v * b_e * (self.kappa_e * speed**2 + cfg.tx_power_w * up_s_per_cycle) / e_local
            )
            m_edge_work = (m_edge * work).sum(2)  # (H, M): edge cost of slot h's work, per unit fraction
            frac_local = best_local_fraction(m_edge_work, total, local, gamma, self.v * b_e)
            w = np.where(active & stay, 1.0 - frac_local, 0.0)[:, None] * np.ones((1, K))
        return w, a


def offload_cost(
    frac: np.ndarray, m_edge_work: np.ndarray, total: np.ndarray, local: np.ndarray, gamma: np.ndarray, e_cycle: float
) -> np.ndarray:
    """Horizon-mean cost, per vehicle, of keeping the fraction ``frac`` (M,) of new work local.

    Slot h's work U_h splits into X = frac·U_h local cycles, queued behind ``local`` cycles and
    costing γ·(L·X + X²/2) of waiting plus ``e_cycle``·X of energy, and (1 - frac)·U_h cycles at
    the edge at the linearised cost ``m_edge_work`` (= Σ_k m_edge·U_h,k) per unit fraction.
    """
    x = frac[None, :] * total
    cost = gamma * (local * x + 0.5 * x * x) + e_cycle * x + (1.0 - frac)[None, :] * m_edge_work
    return cost.mean(0)


def best_local_fraction(
    m_edge_work: np.ndarray, total: np.ndarray, local: np.ndarray, gamma: np.ndarray, e_cycle: float
) -> np.ndarray:
    """argmin over frac in [0, 1] of ``offload_cost`` (M,): a convex quadratic, so closed form."""
    u1 = total.mean(0)
    u2 = (total * total).mean(0)
    slope = (gamma * local + e_cycle) * u1 - m_edge_work.mean(0)  # d cost / d frac at frac = 0
    curv = gamma * u2
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(curv > 0.0, -slope / curv, np.where(slope < 0.0, 1.0, 0.0))
    return np.where(u1 > 0.0, np.clip(frac, 0.0, 1.0), 0.0)


class SPDPPAgent(DPPAgent):
    """Proactive and goal-aware: the twin's forecasts feed the solver; commands set the goal."""

    name = "sp-dpp"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 2, horizon: int = 5):
        super().__init__(env, v, passes)
        self.twin = PredictiveTwin(self.cfg, horizon=horizon)
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.twin.reset()
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        self.twin.update(obs)
        now = float(obs["slot"][0]) * self.cfg.slot_s
        if info.get("command_id", 0) != self.command_id:
            self.command_id = info["command_id"]
            try:
                self.goal = self.interpret(info["command"])
                self.expires_s = now + self.goal.duration_s if self.goal.duration_s else math.inf
            except ValueError:
                self.commands_rejected += 1  # counted, visible in stats(); the goal stays
        if now >= self.expires_s:
            self.goal, self.expires_s = BALANCED, math.inf
        return super().act(obs, info)

    def interpret(self, text: str) -> GoalSpec:
        """The goal an operator command means (offline ``parse_command``); ``ValueError`` if none."""
        return parse_command(text)

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fc = self.twin.forecast()
        active = obs["active"].astype(bool)
        # Expected arrivals in each horizon slot (bytes per slot), as cycles, (H, M, K).
        work = fc.arrivals_bytes * self.cpb * active[:, None]
        # Predicted mean SNR per horizon slot; with fading its median (x ln 2) sets the typical rate.
        snr = 10.0 ** (fc.snr_db / 10.0) * (math.log(2.0) if self.cfg.fading else 1.0)
        # A vehicle predicted to leave the road within the horizon keeps its new work local.
        stay = active & fc.mask[-1]
        return work, snr * active, stay

    def stats(self) -> dict[str, Any]:
        return {"goal": self.goal.label, "commands_rejected": self.commands_rejected}


class OracleAgent(SPDPPAgent):
    """``sp-dpp`` with perfect foresight: a bound, not a policy.

    Unlike every other agent it reads simulator internals: each slot it clones the simulator
    (``copy.deepcopy`` of ``env.unwrapped.sim``, random generator included) and runs the clone H
    slots ahead, drawing the observation noise as the env does, so the clone sees exactly the
    arrivals, channel gains (fading included) and departures the real road will have. The solver
    then gets the true future in place of the twin's forecasts.
    """

    name = "oracle"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 2, horizon: int = 5):
        super().__init__(env, v, passes, horizon)
        self.env = env
        self.horizon = horizon

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import copy

        from vecgym.observation import observe

        core: Any = self.env.unwrapped
        sim = copy.deepcopy(core.sim)
        active = obs["active"].astype(bool)
        vid = sim.vid.copy()
        M, K = sim.n_max, sim.K
        zero = np.zeros((M, K))
        goal_vec = BALANCED.vector()  # the clone needs only the noise draws of observe()
        work = np.zeros((self.horizon, M, K))
        snr = np.zeros((self.horizon, M))
        stay = active.copy()
        for h in range(self.horizon):
            snr[h] = sim.snr()  # the true SNR of the coming slot, fading included
            sim.step(zero, zero)
            observe(sim, goal_vec)  # keeps the clone's random stream aligned with the env's
            work[h] = sim.last_arrivals_bytes * self.cpb
            stay &= sim.vid == vid
        return work * active[:, None], snr * active, stay
