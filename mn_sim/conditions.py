"""Success conditions, declared by tasks (RLBench's backend/conditions.py, re-thought).

A condition answers condition_met(sim) -> bool; the task is successful when all its success
conditions are met at the same time. A condition with memory (`stateful`, e.g. OrderedConditions)
is also asked during physics (Task.monitor), so that it sees transient states such as a button
held down for a moment.
"""
from __future__ import annotations

import numpy as np


class Condition:
    stateful = False      # True: remembers what it saw; Task.monitor polls it during physics

    def condition_met(self, sim) -> bool:
        raise NotImplementedError

    def reset(self) -> None:
        pass


class JointCondition(Condition):
    """A joint has moved at least `threshold` from `start` (in its own units: rad or m)."""

    def __init__(self, joint: str, threshold: float, start: float = 0.0, direction: int = 1):
        self.joint, self.threshold, self.start, self.direction = joint, threshold, start, direction

    def condition_met(self, sim) -> bool:
        return self.direction * (sim.joint_qpos(self.joint) - self.start) >= self.threshold


class DetectedCondition(Condition):
    """A body's origin lies inside an axis-aligned box given in a site's frame (or not, if negated).

    `half_extents` are half sizes of the box centred on the site."""

    def __init__(self, body: str, site: str, half_extents, negated: bool = False):
        self.body, self.site, self.half, self.negated = body, site, np.asarray(half_extents), negated

    def condition_met(self, sim) -> bool:
        sid = sim.model.site(self.site).id
        R = sim.data.site_xmat[sid].reshape(3, 3)
        local = R.T @ (sim.body_pos(self.body) - sim.data.site_xpos[sid])
        inside = bool(np.all(np.abs(local) <= self.half))
        return inside != self.negated


class NothingGrasped(Condition):
    def condition_met(self, sim) -> bool:
        return len(sim.grasped_bodies()) == 0


class OrderedConditions(Condition):
    """Each sub-condition must become true in order; once met, it stays met (latched).

    Give it plain conditions: a latched one (true from the first time it was met), met early,
    would stay true and the order would no longer be enforced."""
    stateful = True

    def __init__(self, conditions: list[Condition]):
        self.conditions = conditions
        self.reached = 0

    def reset(self) -> None:
        self.reached = 0

    def condition_met(self, sim) -> bool:
        while self.reached < len(self.conditions):
            nxt = self.conditions[self.reached]
            # a later one met before its turn breaks the order
            for later in self.conditions[self.reached + 1:]:
                if later.condition_met(sim) and not nxt.condition_met(sim):
                    return False
            if not nxt.condition_met(sim):
                return False
            self.reached += 1
        return True


class DetectedSeveralCondition(Condition):
    """At least `number_needed` of `bodies` have their origin inside a site's box (RLBench's
    DetectedSeveralCondition: e.g. blocks stacked in a success region)."""

    def __init__(self, bodies, site: str, half_extents, number_needed: int):
        self.bodies = list(bodies)
        self.detectors = [DetectedCondition(b, site, half_extents) for b in self.bodies]
        self.number_needed = int(number_needed)

    def condition_met(self, sim) -> bool:
        return sum(d.condition_met(sim) for d in self.detectors) >= self.number_needed
