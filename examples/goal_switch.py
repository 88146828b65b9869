"""The paper's goal switch: the operator's command at t = 51 changes the reward's objective."""

import agents
from vecgym import scenarios

env = scenarios.make("goal_switch")
agent = agents.make_agent("offload", env)
obs, info = env.reset(seed=1)
agent.reset(seed=1)
done = False
while not done:
    obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
    if info["command_id"] and info["metrics"]["n_active"] and obs["slot"][0] == 50:
        print(f"slot 50 (t = 51): command {info['command']!r} -> goal {info['goal']!r}")
    done = terminated or truncated
print(env.unwrapped.episode_metrics()["reward_terms"])
