"""The same road as a PettingZoo ParallelEnv: one agent per vehicle slot, a centralised state."""

import numpy as np

import vecgym

env = vecgym.parallel_env(n_vehicles=10, max_cycles=50)
observations, infos = env.reset(seed=0)
print("agents:", len(env.agents), "state:", env.state().shape)
while env.agents:
    # Offload 80% and ask for an equal share each; the env normalises the edge shares.
    actions = {a: np.array([[0.8] * 3, [1.0] * 3], dtype=np.float32) for a in env.agents}
    observations, rewards, terminations, truncations, infos = env.step(actions)
print("episode:", {k: round(v, 2) for k, v in env.vec_env.episode_metrics().items() if isinstance(v, float)})
