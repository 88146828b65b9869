"""The receding-horizon family: ``sp-dpp``, ``oracle`` and the information ladder's rungs
(``rh:<source>:<H>`` in ``benchmarks.proactivity``) are one controller on one fluid model, told
different things about the coming slots.

**Model** (``model``). Every vehicle has a local FIFO (its CPU, f_v), an uplink FIFO (its cell's
band shared equally by the cell's vehicles with bits to send, noise and the spectral-efficiency cap
as in ``vecgym.core.radio``) and one edge queue per type at the server holding it, served at
a_q·F_e; results come down on the downlink. Work is a fluid (``fluid``): each slot a FIFO with
content X, even inflow a and capacity C has the area X·t_e + (a - C)·t_e²/(2τ) (t_e: when it
empties) and leaves X' = max(0, X + a - C) to the next slot (**carry-over**). A FIFO holding
several types drains them in proportion. The cost of a slot, in the reward's units:

* QoS: price × area for each FIFO, plus half of each task's own service time (local, upload,
  edge at its share; the fluid area counts the other half: a task in service is one pending
  task while its content falls from c to 0), the whole download time, and the Pollaczek-Khinchine
  wait of the slot's Poisson arrivals at each FIFO (``fluid.mg1_wait``, its 1/(1 - ρ) held at
  ρ = 0.5: past it the fluid backlog carries the overload), with the price per task-second
  q = β_Q·ω/(D·deadline_scale·n·E[tasks]) as the reward charges a pending task
  (``agents.lyapunov.prices``); per cycle-second q / cycles.
* Energy: V·β_E/(n·E[local joules]) per joule: local κ_v·f_v² per cycle, upload P·bits/rate,
  download P_rsu·bits/rate, edge κ_e·(S·F_e)² per cycle served at server speed S (DVFS), and
  **migration**: the edge content of a vehicle whose holding server changes between two horizon
  slots (a handover, from the source's cells) pays the backhaul's joules per bit and hop.
* **Terminal**: what is left after slot H drains at the last slot's rates with its new work
  keeping the queue as busy (x²/(2·rate·(1 - load))), and the leftover edge work's energy.

With V = 1 the model cost estimates the reward's β_Q·qos + β_E·energy, but not exactly: measured
along a `true-next` episode (V = 1, 150 slots), the model's QoS of a slot is 1.7× the reward's on
the paper road and 1.4× on the corridor, its energy 9% and 15% above, so its best V sits above 1
(the proactivity study sweeps V). **Not modelled**: the reward's cap (tasks are never given up),
fairness (a fixed goal weight only), the max of a task's two parts (fractional offloading is
routing, each part charged as its fraction of a task), the wait of a partial upload's handover.

**Decisions**: a separate plan for each horizon slot: w[h] (M, K) and the server speeds S[h] (R,);
each server's split of S over its queues is closed form, a_q = S·√π_q·P_q / Σ √π·P (P: the
queue's present work, the minimiser of the drain area Σ π·P²/(2·a·F) at a fixed S by
Cauchy-Schwarz). A vehicle in a gap, predicted gone, or leaving the road or entering a gap
within a deadline (observed geometry) offloads nothing. The first slot's decision is applied.

**Costates**: λ[h], the cost of one more unit of a type's content at the start of slot h, is
computed backwards: λ[h] = price·t_e + [the FIFO ends slot h non-empty]·(λ[h+1] + migration
into slot h+1), with the terminal's marginal at H (d area/dX = t_e exactly).

**Solve** (``solve``): from the best of three starts (all offloaded, all local, the last plan
shifted), sweeps over h = 0..H-1 set S[h] to the best of a 16-point grid per server and each
type's w[h] to the best of a 6-point grid per vehicle (types in turn, vehicles at once, the other
vehicles' band users and server shares held), each against slot h's cost plus λ[h+1]·carry-over;
the plan kept is the best full trajectory. Each update is exact on its grid; the sweep is a
heuristic (coordinate descent on a non-convex plan with costates from the previous plan; updating
the types at once instead of in turn, tried, made the plans much worse). There is no black-box
optimiser and no root search: every evaluation is closed form. A decision rolls about 55 slots of
the model (starts, sweep, final trajectory) at H = 5, each about a hundred small numpy
operations: 20–50 ms a decision, far from a 5 ms budget (see the README).

**Spread** (``spread=True``): where the source gives the forecast's spread (the twin), the plan
minimises the expected cost over three scenarios (mean and mean ± √3·std of the arrivals,
3-point Gauss-Hermite; the high-arrival scenario meets the pessimistic 10th-percentile channel).
It did not help (corridor_rush, seed 1, 200 slots, V = 1: goal cost 0.836 with it, 0.834
without), so the registry's agents plan on the mean (``spread=False``) and the spread stays an
option.

**Inputs** (``inputs``): ``state`` (the last slot's arrivals held), ``ewma`` (an EWMA of each
queue's arrivals), ``twin`` (the twin's forecasts: ``info["forecast"]`` from ``VEC-pDT-v0``, else
the agent's own twin), ``true-rates``, ``true-next`` and ``true-future`` (the simulator's
``exogenous_future`` hook: bounds).

| agent | source | H | commands |
|---|---|---|---|
| `sp-dpp` | twin | 5 | followed |
| `oracle` | true-future | 5 | followed |
| `HorizonAgent(env, source=..., horizon=...)` | any | any | optional |

The registry's ``dpp`` and ``dpp-ewma`` are the one-slot M/G/1 solver of ``agents.lyapunov`` (on
the current state and on ``inputs.EWMASource``); v2.0's ``sp-dpp`` stays registered as
``sp-dpp-mg1``.
"""

from __future__ import annotations

from .agent import SPDPP, HorizonAgent, Oracle
from .inputs import SOURCES, SlotInputs, make_source
from .model import HorizonProblem, trajectory
from .solve import Plan, solve

__all__ = [
    "SOURCES",
    "SPDPP",
    "HorizonAgent",
    "HorizonProblem",
    "Oracle",
    "Plan",
    "SlotInputs",
    "make_source",
    "solve",
    "trajectory",
]
