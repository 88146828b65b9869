"""The horizon problem and its fluid model: a trajectory of per-type queue contents under per-slot
decisions, its cost in the reward's units, and the costates of the backward pass
(``agents.horizon``: **Model**, **Costates**).

Shapes: Σ forecast scenarios, H horizon slots, M vehicle slots, K types, R servers (RSUs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.lyapunov.problem import shared_band_rate
from agents.lyapunov.queues import size_moment
from vecgym.config import VECConfig

from . import fluid

#: A queue's share is never costed below this in the terminal drain (a share of 0 would make the
#: leftover's cost infinite; the next slot's solve gives it a share).
MIN_TERMINAL_SHARE = 0.05


@dataclass
class Constants:
    """Per-config physics the model needs, once per agent."""

    tau: float
    f_v: float  # vehicle CPU (cycles/s)
    f_e: float  # edge CPU at full speed (cycles/s)
    local_j: float  # joules per local cycle, κ_v·f_v²
    edge_j_full: float  # joules per edge cycle at S = 1, κ_e·F_e²
    cycles: np.ndarray  # (K,) mean cycles of a task
    bpc: np.ndarray  # (K,) input bits per cycle, 8 / cycles_per_byte
    m2: np.ndarray  # (K,) 1 + CV² of the task size
    result_ratio: np.ndarray  # (K,)
    migration_j_per_bit: float
    n_servers: int

    @classmethod
    def of(cls, cfg: VECConfig, cycles: np.ndarray) -> Constants:
        cpb = np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)
        return cls(
            tau=cfg.slot_s,
            f_v=cfg.vehicle_cpu_hz,
            f_e=cfg.edge_cpu_hz,
            local_j=cfg.kappa_vehicle * cfg.vehicle_cpu_hz**2,
            edge_j_full=cfg.kappa_edge_value * cfg.edge_cpu_hz**2,
            cycles=np.asarray(cycles, dtype=np.float64),
            bpc=8.0 / cpb,
            m2=size_moment(cfg),
            result_ratio=np.asarray(cfg.per_type("result_ratio"), dtype=np.float64),
            migration_j_per_bit=cfg.backhaul_energy_j_per_bit,
            n_servers=cfg.n_servers,
        )


@dataclass
class HorizonProblem:
    """What the controller optimises over: the state now, the inputs of each horizon slot and the
    prices (reward units). ``weight`` (Σ,) are the scenarios' probabilities."""

    cfg: VECConfig
    k: Constants
    work: np.ndarray  # (Σ, H, M, K) new work (cycles) arriving in each horizon slot
    snr: np.ndarray  # (Σ, H, M) linear uplink SNR on the whole band (0 where not covered)
    weight: np.ndarray  # (Σ,)
    cell: np.ndarray  # (H, M) serving RSU in each horizon slot, -1 in a gap or gone
    hold: np.ndarray  # (H, M) server holding the edge queues in each slot, -1 none
    offloadable: np.ndarray  # (H, M, K) bool: w may be > 0
    price: np.ndarray  # (M, K) QoS price per cycle-second (q / cycles of a task)
    energy_price: float  # reward units per joule
    local: np.ndarray  # (M, K) cycles queued on the vehicle now (split by type)
    uplink: np.ndarray  # (M, K) bits waiting to upload now
    edge: np.ndarray  # (M, K) edge cycles queued now

    @property
    def horizon(self) -> int:
        return int(self.work.shape[1])

    def onehot(self, h: int) -> np.ndarray:
        """(M, R) membership of each vehicle's edge queues at the server holding them in slot h."""
        hold = self.hold[h]
        out = np.zeros((hold.shape[0], self.k.n_servers))
        ok = hold >= 0
        out[np.flatnonzero(ok), hold[ok]] = 1.0
        return out

    def migrates(self, h: int) -> np.ndarray:
        """(M,) the edge queues change server at the boundary into slot h (h >= 1), with the hop count."""
        if h == 0:
            return np.zeros(self.hold.shape[1])
        a, b = self.hold[h - 1], self.hold[h]
        return np.where((a >= 0) & (b >= 0) & (a != b), np.abs(b - a), 0).astype(np.float64)


def uploaders(p: HorizonProblem, h: int, busy: np.ndarray) -> np.ndarray:
    """(Σ, M) the users of each vehicle's cell band in slot h counting itself: the covered vehicles
    with upload work (``busy`` (Σ, M))."""
    cell = p.cell[h]
    covered = cell >= 0
    onehot = np.zeros((cell.shape[0], p.k.n_servers))
    onehot[np.flatnonzero(covered), cell[covered]] = 1.0
    per_cell = (busy & covered) @ onehot  # (Σ, R)
    others = per_cell @ onehot.T - (busy & covered)
    return others + 1.0


@dataclass
class Held:
    """What the offloading step holds from the current iterate while it tries a vehicle's options:
    the cell users each vehicle shares its band with, and each server's Σ √π·P over its queues
    (a vehicle's own terms are swapped for the candidate's)."""

    busy: np.ndarray  # (Σ, M)
    users: np.ndarray  # (Σ, M) counting itself
    z: np.ndarray  # (Σ, M, K) √π·P of each queue
    z_total: np.ndarray  # (Σ, R)


@dataclass
class SlotOutcome:
    """One horizon slot of the fluid trajectory, per vehicle ((Σ, M) or (Σ, M, K))."""

    qos: np.ndarray  # (Σ, M) reward units
    energy: np.ndarray  # (Σ, M) reward units
    local_next: np.ndarray
    uplink_next: np.ndarray
    edge_next: np.ndarray
    t_local: np.ndarray  # (Σ, M) when each FIFO empties in the slot (τ: it does not)
    t_uplink: np.ndarray
    t_edge: np.ndarray  # (Σ, M, K)
    share: np.ndarray  # (Σ, M, K)
    up_rate: np.ndarray  # (Σ, M)
    held: Held

    @property
    def cost(self) -> np.ndarray:
        """(Σ,) the slot's cost in reward units."""
        return (self.qos + self.energy).sum(1)


def step(
    p: HorizonProblem,
    h: int,
    w: np.ndarray,
    speed: np.ndarray,
    local: np.ndarray,
    up: np.ndarray,
    edge: np.ndarray,
    held: Held | None = None,
) -> SlotOutcome:
    """Advance the fluid queues through horizon slot h under offloading ``w`` ((M, K) or (Σ', M, K))
    and server speeds ``speed`` (R,) or (Σ', R), from contents ``local``, ``up``, ``edge`` (Σ', M, K; the edge
    after the boundary's migration). Σ' is a multiple of Σ (candidates stacked on the scenarios).
    Each FIFO's content is drained in proportion across its types. With ``held``, each vehicle's
    band users and its queues' share of the server come from the iterate, its own terms swapped."""
    k, cfg, tau = p.k, p.cfg, p.k.tau
    reps = local.shape[0] // p.work.shape[0]
    work = np.tile(p.work[:, h], (reps, 1, 1))
    snr = np.tile(p.snr[:, h], (reps, 1))
    a_loc = (1.0 - w) * work
    area_l, next_l, t_l = _fifo(local, a_loc, np.full(local.shape[:2], k.f_v * tau), p.price, tau)
    own_l = 0.5 * (p.price * k.cycles / k.f_v * a_loc).sum(2)  # discrete tasks: see SERVICE_DEFICIT
    wait_l = fluid.mg1_wait((a_loc * k.cycles * k.m2).sum(2), k.f_v, a_loc.sum(2) / (k.f_v * tau), tau)
    own_l = own_l + (p.price * a_loc).sum(2) * wait_l
    # Uplink: the band of the cell shared by the vehicles with bits to send.
    a_up = w * work * k.bpc
    busy = (up + a_up).sum(2) > 0.0
    if held is None:
        users = uploaders(p, h, busy)
    else:
        users = np.tile(held.users - held.busy, (local.shape[0] // held.users.shape[0], 1)) + busy
    rate = shared_band_rate(cfg, snr, users, cfg.bandwidth_hz, 1.0)
    area_u, next_u, t_u = _fifo(up, a_up, rate * tau, p.price / k.bpc, tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_bit = np.where(rate > 0.0, 1.0 / rate, 0.0)
    own_u = 0.5 * (p.price * k.cycles * a_up).sum(2) * per_bit
    wait_u = fluid.mg1_wait((a_up * k.cycles * k.bpc * k.m2).sum(2), rate, a_up.sum(2) * per_bit / tau, tau)
    own_u = own_u + (p.price * a_up / k.bpc).sum(2) * wait_u
    j_up = cfg.tx_power_w * a_up.sum(2) * per_bit
    inflow = ((up + a_up) - next_u) / k.bpc  # edge cycles uploaded this slot
    # Edge: each server's speed split over its queues, a_q = S·√π_q·P_q / Σ √π·P (closed form:
    # the minimiser of the drain area Σ π·P²/(2·a·F) at a fixed total S, by Cauchy-Schwarz).
    present = edge + inflow
    z = np.sqrt(p.price)[None] * present
    srv = np.maximum(p.hold[h], 0)
    on = (p.hold[h] >= 0)[None, :, None]
    srv_speed = np.broadcast_to(np.atleast_2d(speed), (local.shape[0], p.k.n_servers))[:, srv][..., None]
    if held is None:
        z_total = z.sum(2) @ p.onehot(h)
        denom = z_total[:, srv][..., None]
    else:
        r = local.shape[0] // held.z.shape[0]
        denom = np.tile(held.z_total[:, srv][..., None] - held.z, (r, 1, 1)) + z
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(denom > 0.0, srv_speed * z / np.where(denom > 0.0, denom, 1.0), 0.0) * on
    area_e, next_e, t_e = fluid.slot(edge, inflow, share * k.f_e * tau, tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        own_e = (
            0.5 * np.where(share > 0.0, p.price * k.cycles / (np.where(share > 0.0, share, 1.0) * k.f_e), 0.0) * inflow
        )
    rate_e = share * k.f_e
    with np.errstate(divide="ignore", invalid="ignore"):
        load_e = np.where(rate_e > 0.0, inflow / (np.where(rate_e > 0.0, rate_e, 1.0) * tau), 0.0)
    own_e = own_e + p.price * inflow * fluid.mg1_wait(inflow * k.cycles * k.m2, rate_e, load_e, tau)
    served = present - next_e
    j_edge = k.edge_j_full * srv_speed**2 * served
    # Results: downloaded at the RSU's power on the downlink band (their own time only).
    dl_rate = shared_band_rate(cfg, snr, users, cfg.downlink_bandwidth_hz, cfg.rsu_tx_power_w / cfg.tx_power_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dl_bit = np.where(dl_rate > 0.0, 1.0 / dl_rate, 0.0)
    res_bits = served * k.bpc * k.result_ratio
    own_d = (p.price * k.cycles * res_bits).sum(2) * per_dl_bit  # not in any area: the whole time
    j_dl = cfg.rsu_tx_power_w * res_bits.sum(2) * per_dl_bit
    qos = area_l + area_u + (p.price[None] * area_e).sum(2) + own_l + own_u + own_e.sum(2) + own_d
    joules = k.local_j * a_loc.sum(2) + j_up + j_edge.sum(2) + j_dl
    if held is None:
        held = Held(busy=busy, users=users, z=z, z_total=z_total)
    return SlotOutcome(
        qos=qos, energy=p.energy_price * joules, local_next=next_l, uplink_next=next_u, edge_next=next_e,
        t_local=t_l, t_uplink=t_u, t_edge=t_e, share=share, up_rate=rate, held=held,
    )  # fmt: skip


def _fifo(
    x: np.ndarray, a: np.ndarray, cap: np.ndarray, price: np.ndarray, tau: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A FIFO holding several types (…, K) with capacity ``cap`` (…): its priced area (the content's
    price mix), the per-type carry-over (drained in proportion) and t_e."""
    total_x, total_a = x.sum(-1), a.sum(-1)
    area, carry, t_e = fluid.slot(total_x, total_a, cap, tau)
    content = x + a
    total = content.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mix = np.where(total[..., None] > 0.0, content / np.where(total > 0.0, total, 1.0)[..., None], 0.0)
    priced = area * (mix * price).sum(-1)
    return priced, mix * carry[..., None], t_e


def migrate(p: HorizonProblem, h: int, edge: np.ndarray) -> np.ndarray:
    """(Σ,) reward units of migrating the edge content at the boundary into slot h."""
    hops = p.migrates(h)
    bits = (edge * p.k.bpc).sum(2)
    return p.energy_price * p.k.migration_j_per_bit * (bits * hops[None]).sum(1)


@dataclass
class Trajectory:
    """The fluid trajectory of a plan: contents at the start of each slot (after migration), each
    slot's outcome, the terminal leftover's cost and costates, and the total (Σ,) per scenario."""

    starts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    outcomes: list[SlotOutcome]
    terminal: np.ndarray  # (Σ,)
    costates: dict[str, np.ndarray]  # 'local' | 'uplink' | 'edge' -> (H + 1, Σ, M, K)
    total: np.ndarray  # (Σ,)

    def expected(self, weight: np.ndarray) -> float:
        return float(self.total @ weight)


def initial_contents(p: HorizonProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = p.work.shape[0]
    return tuple(np.broadcast_to(x, (n, *x.shape)).copy() for x in (p.local, p.uplink, p.edge))  # type: ignore[return-value]


def trajectory(p: HorizonProblem, w: np.ndarray, speed: np.ndarray) -> Trajectory:
    """Roll the fluid model over the horizon under per-slot offloading ``w`` (H, M, K) and server
    speeds ``speed`` (H, R): slot h's leftover feeds slot h + 1 (carry-over); then the terminal cost
    of what is left, and the costates of the backward pass (``agents.horizon``: **Costates**)."""
    local, up, edge = initial_contents(p)
    total = np.zeros(p.work.shape[0])
    starts, outs = [], []
    for h in range(p.horizon):
        total += migrate(p, h, edge)
        starts.append((local, up, edge))
        out = step(p, h, w[h], speed[h], local, up, edge)
        total += out.cost
        outs.append(out)
        local, up, edge = out.local_next, out.uplink_next, out.edge_next
    term, lam_end = terminal(p, local, up, edge, outs[-1], speed[-1], w[-1])
    total += term
    return Trajectory(starts, outs, term, costates(p, outs, lam_end), total)


def terminal(
    p: HorizonProblem,
    local: np.ndarray,
    up: np.ndarray,
    edge: np.ndarray,
    last: SlotOutcome,
    speed: np.ndarray,
    w: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cost (Σ',) of draining the leftover after the horizon at the last slot's rates, with the new
    work the last slot brought keeping the queue as busy (``fluid.drain_area``), plus the edge
    energy of the leftover at the last speed; and its marginal per unit of each type's content.
    Rows may be candidates stacked on the scenarios (``speed`` (R,) or (Σ', R))."""
    k, tau = p.k, p.k.tau
    work = np.tile(p.work[:, -1], (local.shape[0] // p.work.shape[0], 1, 1))
    x_l, x_u = local.sum(2), up.sum(2)
    load_l = ((1.0 - w) * work).sum(2) / (k.f_v * tau)
    up_rate = np.maximum(last.up_rate, 1.0)
    load_u = (w * work * k.bpc).sum(2) / (up_rate * tau)
    srv_speed = np.broadcast_to(np.atleast_2d(speed), (local.shape[0], k.n_servers))[:, np.maximum(p.hold[-1], 0)][
        ..., None
    ]
    rate_e = np.maximum(last.share, MIN_TERMINAL_SHARE * srv_speed) * k.f_e
    price_u = p.price / k.bpc
    cost = (
        (_mix(local) * p.price).sum(2) * fluid.drain_area(x_l, np.full(x_l.shape, k.f_v), load_l)
        + (_mix(up) * price_u).sum(2) * fluid.drain_area(x_u, up_rate, load_u)
        + (p.price * fluid.drain_area(edge, rate_e, np.zeros(edge.shape))).sum(2)
    )
    j_edge = k.edge_j_full * srv_speed**2
    cost = cost + p.energy_price * (j_edge * edge).sum(2)
    lam = {
        "local": p.price * (x_l / (k.f_v * (1.0 - np.clip(load_l, 0.0, 0.9))))[..., None],
        "uplink": price_u * (x_u / (up_rate * (1.0 - np.clip(load_u, 0.0, 0.9))))[..., None],
        "edge": p.price * edge / rate_e + p.energy_price * j_edge,
    }
    return cost.sum(1), lam


def plan_costs(p: HorizonProblem, plans: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The expected cost of each plan ((w (H, M, K), speed (H, R)) pairs), all rolled at once (the
    plans stacked on the scenario axis); forward only, no costates."""
    n, s = len(plans), p.work.shape[0]
    w = np.stack([np.repeat(pw[:, None], s, axis=1) for pw, _ in plans], axis=1).reshape(
        p.horizon, n * s, *plans[0][0].shape[1:]
    )
    speed = np.stack([np.repeat(ps[:, None], s, axis=1) for _, ps in plans], axis=1).reshape(p.horizon, n * s, -1)
    local, up, edge = (np.tile(x, (n, 1, 1)) for x in initial_contents(p))
    total = np.zeros(n * s)
    out = None
    for h in range(p.horizon):
        total += migrate(p, h, edge)
        out = step(p, h, w[h], speed[h], local, up, edge)
        total += out.cost
        local, up, edge = out.local_next, out.uplink_next, out.edge_next
    assert out is not None
    total += terminal(p, local, up, edge, out, speed[-1], w[-1])[0]
    return total.reshape(n, s) @ p.weight


def costates(p: HorizonProblem, outs: list[SlotOutcome], lam_end: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """λ[h]: the cost of one more unit of each type's content at the start of slot h, backwards:
    λ[h] = price·t_e + [the FIFO ends slot h non-empty]·(λ[h+1] + the migration into slot h+1 per
    unit). A unit's own price is used for its wait (the content's mix is held)."""
    k = p.k
    H = p.horizon
    out = {key: np.empty((H + 1, *lam_end["edge"].shape)) for key in ("local", "uplink", "edge")}
    for key in out:
        out[key][H] = lam_end[key]
    mig_per_cycle = p.energy_price * k.migration_j_per_bit * k.bpc
    for h in range(H - 1, -1, -1):
        o = outs[h]
        carry_l = (o.local_next.sum(2) > 0.0)[..., None]
        carry_u = (o.uplink_next.sum(2) > 0.0)[..., None]
        carry_e = o.edge_next > 0.0
        mig = (p.migrates(h + 1) if h + 1 < H else np.zeros(p.hold.shape[1]))[None, :, None] * mig_per_cycle
        out["local"][h] = p.price * o.t_local[..., None] + carry_l * out["local"][h + 1]
        out["uplink"][h] = p.price / k.bpc * o.t_uplink[..., None] + carry_u * out["uplink"][h + 1]
        out["edge"][h] = p.price * o.t_edge + carry_e * (out["edge"][h + 1] + mig)
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    total = x.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0.0, x / np.where(total > 0.0, total, 1.0), 0.0)


def carried_cost(out: SlotOutcome, lam_next: dict[str, np.ndarray], h_next: int) -> np.ndarray:
    """(Σ', M): λ[h+1] (tiled to Σ') times what slot h leaves in each FIFO."""
    reps = out.local_next.shape[0] // lam_next["local"].shape[1]
    t = {key: np.tile(v[h_next], (reps, 1, 1)) for key, v in lam_next.items()}
    return (
        (t["local"] * out.local_next).sum(2)
        + (t["uplink"] * out.uplink_next).sum(2)
        + (t["edge"] * out.edge_next).sum(2)
    )
