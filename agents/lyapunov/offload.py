"""The offloading solver: each w[:, k] by a certified safeguarded-Newton root search on the
derivative of a cost convex in it, types in turn, vehicles at once (``agents.lyapunov``: **Offloading**)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .problem import PassState, SlotProblem, _cpb, _edge_j_full, _per_server, edge_inputs
from .queues import _STABLE_EPS, _inv
from .roots import monotone_root


def _full(x: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(x, shape)``, skipped (it is slow on small arrays) when x has that shape."""
    if isinstance(x, np.ndarray) and x.shape == shape:
        return x
    return np.broadcast_to(x, shape)


@dataclass
class _Line:
    """A cost along w[:, k] = x: N(x)·T(z(x)) + b0 + b1·x with N = a0 + a1·x + a2·x² and
    z = z0 + z1·x ((H, M) arrays, averaged over h); T = 1/z down to ``thr``, then its tangent."""

    a0: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    thr: np.ndarray
    b0: np.ndarray | float = 0.0
    b1: np.ndarray | float = 0.0
    weight: np.ndarray | None = None  # (rows, 1): the rows' weights (None: the mean over rows)
    _cache: tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def _sum(self, x: np.ndarray) -> np.ndarray:
        return x.mean(0) if self.weight is None else (x * self.weight).sum(0)

    def value(self, x: np.ndarray) -> np.ndarray:
        T, _ = _inv(self.z0 + self.z1 * x, self.thr)
        return self._sum(
            np.broadcast_to((self.a0 + (self.a1 + self.a2 * x) * x) * T + self.b0 + self.b1 * x, np.shape(self.z0))
        )

    @staticmethod
    def stack(lines: list[_Line]) -> _Line:
        """One line whose cost is the sum of ``lines``' costs (their rows stacked, weighted)."""
        fields = ("a0", "a1", "a2", "z0", "z1", "thr", "b0", "b1")
        rows = [np.shape(line.z0)[0] for line in lines]
        parts = {f: np.concatenate([_full(getattr(line, f), np.shape(line.z0)) for line in lines]) for f in fields}
        weight = np.concatenate([np.full((r, 1), 1.0 / r) for r in rows])
        return _Line(**parts, weight=weight)

    def _constants(self) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What ``derivatives`` needs that does not depend on x, computed once (the root search
        calls it every iteration): all rows valid?, the mask, 2·thr, thr², -1/thr², 2·a2."""
        if self._cache is None:
            ok = self.thr > 0.0
            thr = np.where(ok, self.thr, 1.0)
            thr2 = thr * thr
            self._cache = (bool(ok.all()), ok, 2.0 * thr, thr2, -1.0 / thr2, thr, 2.0 * self.a2)
        return self._cache

    def derivatives(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and second derivatives of the cost in x (mean over h), (M,)."""
        all_ok, ok, two_thr, thr2, slope_below, thr, two_a2 = self._constants()
        z = self.z0 + self.z1 * x
        above = z >= thr
        zs = np.where(above, z, 1.0)
        zs2 = zs * zs
        T = np.where(above, 1.0 / zs, (two_thr - z) / thr2)
        dT = np.where(above, -1.0 / zs2, slope_below)
        d2T = np.where(above, 2.0 / (zs2 * zs), 0.0)
        N = self.a0 + (self.a1 + self.a2 * x) * x
        dN = self.a1 + two_a2 * x
        g = dN * T + N * dT * self.z1
        g = (g if all_ok else np.where(ok, g, 0.0)) + self.b1
        h = two_a2 * T + 2.0 * dN * dT * self.z1 + N * d2T * self.z1 * self.z1
        if g.shape != z.shape:
            g = np.broadcast_to(g, z.shape)
        return self._sum(g), self._sum(h if all_ok else np.where(ok, h, 0.0))


def _fifo_line(
    n: np.ndarray,
    k: int,
    base: np.ndarray,
    slope: np.ndarray,
    size: np.ndarray,
    m2: np.ndarray,
    q: np.ndarray,
    backlog: np.ndarray,
    psi_b: np.ndarray,
    size_b: np.ndarray,
    rate: np.ndarray,
    tau: float,
) -> _Line:
    """``fifo_cost`` along x, where type k's task count is base + slope·x ((H, M) each) and the
    other types keep ``n``."""
    size = np.broadcast_to(size, n.shape[-1:])
    m2 = np.broadcast_to(m2, n.shape[-1:])
    ok = rate > 0.0
    r = np.where(ok, rate, 1.0)
    n0 = n.copy()
    n0[:, :, k] = base
    Y0 = (n0 * size).sum(2)
    dY = slope * size[k]
    Qn0 = (q * n0).sum(2)
    V0 = (n0 * size * size * m2).sum(2)
    dQn = q[..., k] * slope
    dV = slope * size[k] ** 2 * m2[k]
    c = 1.0 / (2.0 * tau * r)
    return _Line(
        a0=np.where(ok, psi_b * backlog * backlog / 2.0 + Qn0 * V0 * c, 0.0),
        a1=np.where(ok, (Qn0 * dV + dQn * V0) * c, 0.0),
        a2=np.where(ok, dQn * dV * c, 0.0),
        z0=rate - Y0 / tau,
        z1=-dY / tau * np.ones_like(rate),
        thr=_STABLE_EPS * rate,
        b0=np.where(ok, (psi_b * backlog * size_b / 2.0 + (q * n0 * size).sum(2)) / r, 0.0),
        b1=np.where(ok, dQn * size[k] / r, 0.0),
    )


@dataclass
class _ServerEnergy:
    """A server's edge energy along x when its speed follows its offered load:
    k·(s0 + b·x)²·(W0 + u·x), (M,) arrays (convex for x ≥ 0: all coefficients are ≥ 0)."""

    k: np.ndarray
    s0: np.ndarray
    b: np.ndarray
    W0: np.ndarray
    u: np.ndarray

    def value(self, x: np.ndarray) -> np.ndarray:
        s = self.s0 + self.b * x
        return self.k * s * s * (self.W0 + self.u * x)

    def derivatives(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.s0 + self.b * x
        W = self.W0 + self.u * x
        return self.k * (2.0 * self.b * s * W + self.u * s * s), self.k * (
            2.0 * self.b * self.b * W + 4.0 * self.b * self.u * s
        )


def offload_lines(
    p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int
) -> tuple[list[_Line | _ServerEnergy], np.ndarray]:
    """The costs along w[:, k] = x, everything else held, for each vehicle at once: its local,
    uplink and downlink FIFOs, its edge queue (n, k) at its share, its server's pooled wait and
    edge energy with the server's spare share S - L held (the speed follows the offered load), and
    the constant slope of the other energy terms (M,)."""
    cfg = p.cfg
    tau, f_v, F = cfg.slot_s, cfg.vehicle_cpu_hz, cfg.edge_cpu_hz
    m = p.tasks[:, :, k]
    qb = np.broadcast_to(p.q[None], p.tasks.shape)
    local = _fifo_line(
        (1.0 - w)[None] * p.tasks,
        k,
        m,
        -m,
        p.cycles,
        p.m2,
        qb,
        p.local,
        ps.psi["local"],
        ps.size["local"],
        np.full(p.snr.shape, f_v) * p.active,
        tau,
    )
    up = _fifo_line(
        w[None] * p.tasks, k, 0.0 * m, m, p.bits, p.m2, qb, p.uplink, ps.psi["up"], ps.size["up"], ps.r_up, tau
    )
    lines: list[_Line | _ServerEnergy] = [local, up]
    if p.result_ratio[k] > 0.0:
        has_res = p.result_ratio > 0.0
        lines.append(
            _fifo_line(
                w[None] * p.tasks * has_res,
                k,
                0.0 * m,
                m,
                p.bits * p.result_ratio,
                p.m2,
                qb,
                p.downlink,
                ps.psi["dl"],
                ps.size["dl"],
                ps.r_dl,
                tau,
            )
        )
    held = p.held
    srv = p.server
    U = p.work[:, :, k]
    Ubar = U.mean(0) * held
    B = p.edge[:, k]
    c = p.cycles[k]
    ones = np.ones((1, U.shape[1]))
    zero = 0.0 * ones
    # Edge queue (n, k): (q/c)·(P² + P·c)/2 / (a·F), P = B + x·U_h, averaged over h.
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(held & (ps.share[:, k] > 0.0), p.q[:, k] / c / (ps.share[:, k] * F), 0.0)
    r = r * np.where(held, ps.dilution[srv], 0.0)
    lines.append(
        _Line(
            a0=(r * (B * B + B * c) / 2.0)[None],
            a1=(r * (2.0 * B + c) / 2.0 * Ubar)[None],
            a2=(r / 2.0 * (U * U).mean(0))[None],
            z0=ones,
            z1=zero,
            thr=ones,
        )
    )
    # The server's pooled wait d/(S·(S - L)) at the pass's spare S - L, and its energy
    # e·κ_e·F²·S²·W with S = L + spare: this vehicle's type-k offloads are the variable.
    e_in = edge_inputs(p, w)
    spare = np.where(held, ps.spare[srv], 0.0)
    own_n = w[:, k] * p.tasks[:, :, k].mean(0) * held
    m_bar = p.tasks[:, :, k].mean(0) * held
    dQn, dV = p.q[:, k] * m_bar, m_bar * c * c * p.m2[k]
    qn0 = e_in.qn[srv] - own_n * p.q[:, k]
    v0 = e_in.v[srv] - own_n * c * c * p.m2[k]
    load0 = np.where(held, e_in.load[srv], 0.0) - w[:, k] * Ubar / (tau * F)
    s0 = np.maximum(load0 + spare, 0.0)
    T, _ = _inv(spare, _STABLE_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(held & (ps.speed[srv] > 0.0), T / (2.0 * tau * F * F * ps.speed[srv]), 0.0)
    lines.append(
        _Line(
            a0=(qn0 * v0 * g)[None],
            a1=((qn0 * dV + dQn * v0) * g)[None],
            a2=(dQn * dV * g)[None],
            z0=ones,
            z1=zero,
            thr=ones,
        )
    )
    W_srv = _per_server(p, p.edge + w * p.work.mean(0))
    lines.append(
        _ServerEnergy(
            k=p.energy_price * _edge_j_full(cfg) * held,
            s0=s0,
            b=Ubar / (tau * F),
            W0=np.where(held, W_srv[srv], 0.0) - w[:, k] * Ubar,
            u=Ubar,
        )
    )
    bits_per_cycle = 8.0 / _cpb(cfg)[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        j_up = np.where(ps.r_up > 0.0, cfg.tx_power_w * U * bits_per_cycle / ps.r_up, 0.0)
        j_dl = np.where(ps.r_dl > 0.0, cfg.rsu_tx_power_w * U * bits_per_cycle * p.result_ratio[k] / ps.r_dl, 0.0)
    j_loc = cfg.kappa_vehicle * f_v**2 * U.mean(0)
    return lines, p.energy_price * (j_up.mean(0) + j_dl.mean(0) - j_loc)


def offload_surrogate(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int, x: np.ndarray) -> np.ndarray:
    """The cost the offloading step minimises along w[:, k] = x (M,), each vehicle's with the
    others' w at ``w`` (up to a constant per vehicle)."""
    lines, slope = offload_lines(p, w, a, ps, k)
    return slope * x + sum(line.value(x) for line in lines)


def offload_gradient(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int) -> np.ndarray:
    """∂/∂w[:, k] of ``offload_surrogate`` at w (M,)."""
    lines, slope = offload_lines(p, w, a, ps, k)
    return slope + sum(line.derivatives(w[:, k])[0] for line in lines)


def offload_step(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, sweeps: int = 1) -> np.ndarray:
    """The offloading step: type by type, each vehicle's w[n, k] = argmin over [0, 1] of J with
    everything else held (convex in it), by a certified root search (safeguarded Newton) on the
    derivative; 0 where offloading is not allowed. All vehicles move at once (Jacobi)."""
    w = np.where(p.offloadable, w, 0.0).astype(np.float64)
    M = w.shape[0]
    for _ in range(sweeps):
        for k in range(w.shape[1]):
            can = p.offloadable[:, k] & (p.work[:, :, k].sum(0) > 0.0)
            if not can.any():
                w[:, k] = 0.0
                continue
            lines, slope = offload_lines(p, w, a, ps, k)
            lines = [_Line.stack([x for x in lines if isinstance(x, _Line)])] + [
                x for x in lines if not isinstance(x, _Line)
            ]

            def grad(
                x: np.ndarray, lines: list[_Line | _ServerEnergy] = lines, slope: np.ndarray = slope
            ) -> tuple[np.ndarray, np.ndarray]:
                g, h = slope.copy(), np.zeros(M)
                for line in lines:
                    dg, dh = line.derivatives(x)
                    g += dg
                    h += dh
                return g, h

            g0, _ = grad(np.zeros(M))
            g1, _ = grad(np.ones(M))
            inner = can & (g0 < 0.0) & (g1 > 0.0)
            x = np.where(g1 <= 0.0, 1.0, 0.0)
            if inner.any():
                root = monotone_root(grad, np.zeros(M), np.where(inner, 1.0, 0.0), 1e-9, with_derivative=True)
                x = np.where(inner, root, x)
            w[:, k] = np.where(can, x, 0.0)
    return w
