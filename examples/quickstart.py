"""Ten lines: make the env, drive it with the greedy-offloading baseline, print the episode totals."""

import gymnasium as gym

import agents
import vecgym  # noqa: F401  (registers VEC-v0)

env = gym.make("VEC-v0", n_vehicles=20, max_episode_steps=300)
agent = agents.make_agent("go", env)
obs, info = env.reset(seed=0)
agent.reset(seed=0)
terminated = truncated = False
while not (terminated or truncated):
    obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
m = env.unwrapped.episode_metrics()
print(
    f"latency {m['latency_ms_mean']:.1f} ms, violations {m['violation_rate_pct']:.1f} %, energy {m['energy_j']:.0f} J"
)
