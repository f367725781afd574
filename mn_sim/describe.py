"""Instructions of every variation of the simulated tasks (what `mn tasks` prints and what the
recognizer's candidate set is built from)."""
from __future__ import annotations


def describe_tasks(names: list[str]) -> dict:
    """{task: {"variation_count": n, "variations": [[descriptions...], ...]}} from each task's
    init_episode (builds the task's scene once; descriptions[0] is the canonical one)."""
    from mn_sim.env import MNEnv
    env = MNEnv(cameras=("front",))
    out = {}
    try:
        for name in names:
            env.reset(seed=0, options={"task": name, "variation": 0, "render": False})
            n = env.task.variation_count()
            variations = []
            for v in range(n):
                env.task.variation = v
                variations.append(list(env.task.init_episode(v)))
            out[name] = {"variation_count": n, "variations": variations}
    finally:
        env.close()
    return out


def canonical_instructions(names: list[str]) -> dict[str, list[str]]:
    """{task: [canonical instruction of variation 0, 1, ...]} for tasks known to mn_sim."""
    return {t: [v[0] for v in d["variations"]] for t, d in describe_tasks(names).items()}
