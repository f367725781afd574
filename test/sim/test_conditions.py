"""Success conditions with memory: Task.monitor polls them during physics, so a state that lasts
a moment (a button held down) counts; conditions without memory are only asked at the end."""
from mn_sim.conditions import Condition, OrderedConditions
from mn_sim.tasks.base import Task


class _Flag(Condition):
    """Met while `on` is set; counts how often it was asked."""

    def __init__(self):
        self.on, self.asked = False, 0

    def condition_met(self, sim) -> bool:
        self.asked += 1
        return self.on


def _task(conditions) -> Task:
    t = Task()
    t.register_success_conditions(conditions)
    return t


def test_an_order_seen_only_during_physics_counts():
    first, second = _Flag(), _Flag()
    task = _task([OrderedConditions([first, second])])
    first.on = True
    task.monitor()                 # during a motion: the first button is down for a moment
    first.on, second.on = False, True
    task.monitor()                 # later the second one
    second.on = False
    assert task.success()          # at the end both are up again: the order was seen


def test_the_wrong_order_does_not_count_and_plain_conditions_are_not_polled():
    first, second, plain = _Flag(), _Flag(), _Flag()
    task = _task([OrderedConditions([first, second]), plain])
    second.on = True
    task.monitor()                 # the second button first: does not count
    second.on, first.on = False, True
    task.monitor()                 # then the first
    first.on, plain.on = False, True
    assert plain.asked == 0        # no memory: not polled during physics
    assert not task.success()      # the second was never pressed after the first
    task.register_success_conditions(task._success)     # a new episode starts the order anew
    first.on = True
    task.monitor()
    first.on, second.on = False, True
    task.monitor()
    second.on = False
    assert task.success()
