"""The same road as a PettingZoo ParallelEnv: one agent per vehicle slot, a centralised state."""

import numpy as np

import vecgym

env = vecgym.parallel_env(n_vehicles=10, max_cycles=50)
observations, infos = env.reset(seed=0)
agent = env.agents[0]
print("agents:", len(env.agents), "obs:", env.observation_space(agent).shape, "action:", env.action_space(agent).shape)
print("state:", env.state().shape, "agent state:", env.agent_state(agent).shape)
K = env.n_task_types
# Policy outputs in [-1, 1]: u[:K] -> offload ratios w = (u + 1) / 2 = 0.8; u[K:] = 0 -> each server
# leaves half its CPU idle and splits the other half equally over the queues it holds.
action = np.concatenate((np.full(K, 0.6), np.zeros(K))).astype(np.float32)
while env.agents:
    actions = {a: action for a in env.agents if infos[a]["active"]}  # idle slots' actions are ignored anyway
    observations, rewards, terminations, truncations, infos = env.step(actions)
print("episode:", {k: round(float(v), 2) for k, v in env.episode_metrics().items() if isinstance(v, float)})
