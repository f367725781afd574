"""Every task can fail: its success is False at reset, False after a scripted wrong episode (a
mistake a policy could make, driven through MNEnv.step like any policy), and True after the
expert. A task whose success() ignores which drawer, which order, or whether the object was let
go passes the expert's tests; it does not pass these.

Kinds of wrong episode (see WRONG_EPISODES for which task gets which):
- another variation's expert: the expert of variation w, recorded in the same scene (same seed;
  the layout is checked to be identical) and replayed as 9-number actions into an episode of
  variation v (the wrong drawer, tap, shelf, slot, dustpan, shape, piece of meat, bulb, ...);
- the expert aimed at another place: the expert run live with its target set elsewhere (where
  variations do not change the scene, e.g. the spoke of a colour is drawn at random);
- the expert with one mistake: buttons pushed in the reverse order, the object held at the
  goal instead of let go, the lid set down beside the jar, the drag stopped short.
Each wrong episode also checks that it really made its mistake (e.g. the other variation's
conditions hold at its end), so that it cannot pass by merely failing to do anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import pytest

from mn_sim.conditions import Condition, DetectedCondition, JointCondition, NothingGrasped
from mn_sim.env import MNEnv
from mn_sim.tasks.base import Task
from mn_sim.tasks.registry import get_task_class, task_names
from mn_sim.types import Action

# a wrong episode returns None when it made its mistake, else a sentence saying what did not happen
Evidence = Optional[str]


@pytest.fixture(scope="module")
def env():
    e = MNEnv(cameras=("front",))
    yield e
    e.close()


# ---------------------------------------------------------------------------- episode drivers
def _reset(env: MNEnv, task: str, variation: int, seed: int) -> None:
    env.reset(seed=seed, options={"task": task, "variation": variation, "render": False})


def _step_all(env: MNEnv, actions: Iterable, what: str) -> list[np.ndarray]:
    """Step `actions` (Action or 9 numbers; a generator may read the sim between steps) until
    they run out or the episode ends; returns them as 9-number arrays. An IK or collision
    failure is an error of the script: a wrong episode must fail by the task's conditions."""
    done = []
    for a in actions:
        arr = a.to_array() if isinstance(a, Action) else np.asarray(a, float)
        done.append(arr)
        _, _, terminated, truncated, info = env.step(arr, render=False)
        if info["failure_reason"]:
            raise AssertionError(f"{env.task.name}: {what} stopped at step {env.steps} with "
                                 f"'{info['failure_reason']}'; the script must run to its end "
                                 "(try another seed)")
        if terminated or truncated:
            break
    return done


def _conditions_met(env: MNEnv, conditions: list[Condition]) -> bool:
    return all(c.condition_met(env.sim) for c in conditions)


def _edit(actions: Iterator[Action], fn) -> Iterator[Action]:
    """The expert's actions, each passed through fn(k, action) -> (action, stop_after)."""
    for k, a in enumerate(actions):
        a, stop = fn(k, a)
        yield a
        if stop:
            return


def _never_release(actions: Iterator[Action], skip: int = 0) -> Iterator[Action]:
    """The expert up to its release number `skip` (0 = first) of a held object, which is done
    with the gripper still closed; then it stops: the object stays in the hand at the goal."""
    holding, released = False, 0
    for a in actions:
        if holding and a.gripper_open:
            if released == skip:
                yield Action(a.position, a.quaternion, False, a.ignore_collisions)
                return
            released, holding = released + 1, False
        holding = holding or not a.gripper_open
        yield a


# ---------------------------------------------------------------------------- wrong episodes
def other_variations_expert(w: int):
    """Replay, into variation v's episode, the actions the expert takes for variation w in the
    same scene. Evidence: variation w's success conditions hold at the end."""
    def run(env: MNEnv, task: str, v: int, seed: int) -> Evidence:
        _reset(env, task, w, seed)
        w_conditions = list(env.task._success)
        layout = env.sim.data.xpos.copy()
        actions = _step_all(env, env.task.expert(), f"the expert of variation {w}")
        assert env.task.success(), (f"{task}: the expert of variation {w} failed at seed {seed}; "
                                    "choose another seed for this wrong episode")
        _reset(env, task, v, seed)
        assert np.array_equal(env.sim.data.xpos, layout), (
            f"{task}: variations {v} and {w} lay out seed {seed} differently: replaying one's "
            "actions in the other's scene would not be a like-for-like mistake")
        _step_all(env, actions, f"the replay of variation {w}'s expert")
        for c in w_conditions:
            c.reset()
        if not _conditions_met(env, w_conditions):
            return f"the replay did not achieve variation {w}'s goal"
        return None
    return run


def expert_aimed_elsewhere(attrs: Callable[[Task], dict], goal: Callable[[Task], list[Condition]]):
    """Run the expert live with some of the task's target attributes set elsewhere (a policy that
    picked the wrong object/place); the registered success conditions are untouched. Evidence:
    `goal(task)` (the conditions of where it was aimed) holds at the end."""
    def run(env: MNEnv, task: str, v: int, seed: int) -> Evidence:
        _reset(env, task, v, seed)
        t = env.task
        new = attrs(t)
        saved = {k: getattr(t, k) for k in new}
        try:
            for k, val in new.items():
                setattr(t, k, val)
            wrong_goal = goal(t)
            _step_all(env, t.expert(), f"the expert aimed at {new}")
        finally:
            for k, val in saved.items():
                setattr(t, k, val)
        if not _conditions_met(env, wrong_goal):
            return f"the expert aimed at {new} did not get there"
        return None
    return run


def edited_expert(edit: Callable[[Iterator[Action], Task], Iterator[Action]],
                  evidence: Callable[[MNEnv, dict], Evidence],
                  before: Callable[[MNEnv], dict] = lambda env: {}):
    """Run the expert of variation v with a mistake made by `edit`. `before(env)` records what
    `evidence(env, recorded)` needs from the start of the episode."""
    def run(env: MNEnv, task: str, v: int, seed: int) -> Evidence:
        _reset(env, task, v, seed)
        recorded = before(env)
        _step_all(env, edit(env.task.expert(), env.task), "the edited expert")
        return evidence(env, recorded)
    return run


# ---- task-specific pieces
def _buttons_reversed(actions: Iterator[Action], task: Task) -> Iterator[Action]:
    """push_buttons' expert pushes each button with 3 actions (above, press, above); the
    buttons are fixed, so its actions can be listed up front and the presses reordered."""
    acts = list(actions)
    per = 3
    presses = [acts[i:i + per] for i in range(0, len(acts), per)]
    assert len(presses) == task.n_push >= 2, "pick a variation with at least 2 buttons"
    return iter([a for p in reversed(presses) for a in p])


def _both_buttons_lit(env: MNEnv, _) -> Evidence:
    from mn_sim.props.buttons import GREEN
    from mn_sim.tasks.push_buttons import BUTTONS
    m = env.sim.model
    unlit = [b for b in BUTTONS[:env.task.n_push]
             if not np.allclose(m.geom_rgba[m.geom(f"{b}_plate").id], GREEN)]
    return f"buttons {unlit} were never pushed" if unlit else None


def _held_at_goal(env: MNEnv, _) -> Evidence:
    """Something is in the hand and every success condition but NothingGrasped is met: only
    letting go is missing."""
    if not env.sim.grasped_bodies():
        return "nothing is held at the end"
    rest = [c for c in env.task._success if not isinstance(c, NothingGrasped)]
    if not _conditions_met(env, rest):
        return "the object is held, but not at the goal"
    return None


def held_at_goal(skip: int = 0):
    """The expert, but the gripper stays closed at its release number `skip` (0 = first)."""
    return edited_expert(lambda acts, t: _never_release(acts, skip), _held_at_goal)


def _lid_beside_jar(actions: Iterator[Action], task: Task) -> Iterator[Action]:
    """close_jar's expert, but from 'above the jar' on (action 3) every pose is moved 9 cm
    sideways, away from the other jar: the lid is let go on the table next to the jar."""
    sim = task.sim
    other = "jar1" if task.target == "jar0" else "jar0"
    away = sim.body_pos(task.target) - sim.body_pos(other)
    away[2] = 0.0
    shift = 0.09 * away / np.linalg.norm(away)

    def fn(k, a):
        if k >= 3:
            a = Action(a.position + shift, a.quaternion, a.gripper_open, a.ignore_collisions)
        return a, False
    return _edit(actions, fn)


def _lid_on_table_beside_jar(env: MNEnv, _) -> Evidence:
    sim, task = env.sim, env.task
    lid, seat = sim.body_pos("jar_lid"), sim.site_pos(f"{task.target}_lid_seat")
    if sim.grasped_bodies():
        return "the lid is still held"
    if lid[2] > task.table_z + 0.03:
        return f"the lid is not on the table (z {lid[2]:.3f})"
    if not 0.05 < np.linalg.norm((lid - seat)[:2]) < 0.2:
        return f"the lid is not beside the jar ({np.linalg.norm((lid - seat)[:2]):.3f} m away)"
    return None


def _drag_short(actions: Iterator[Action], task: Task) -> Iterator[Action]:
    """reach_and_drag's expert, but its drag (the last action) ends a third of the way."""
    acts = []

    def fn(k, a):
        acts.append(a)
        if k == 5:
            start = acts[4].position
            a = Action(start + 0.35 * (a.position - start), a.quaternion, a.gripper_open,
                       a.ignore_collisions)
        return a, k == 5
    return _edit(actions, fn)


def _cube_moved(env: MNEnv, rec: dict) -> Evidence:
    moved = np.linalg.norm(env.sim.body_pos("cube")[:2] - rec["cube"][:2])
    return None if moved > 0.02 else f"the cube moved only {moved:.3f} m: it was not dragged"


def _ring_spoke(task: Task) -> dict:
    from mn_sim.props.pegs import N_SPOKES
    return {"target": (task.target + 1) % N_SPOKES}


def _ring_on_spoke(task: Task) -> list[Condition]:
    from mn_sim.tasks.insert_onto_square_peg import BASE, RING, SUCCESS_HALF
    return [DetectedCondition(RING, f"{BASE}_spoke{task.target}_low", SUCCESS_HALF),
            NothingGrasped()]


def _cups_into_cup0(task: Task) -> dict:
    return {"target": "cup0", "others": ("cup1", "cup2")}


def _cups_in(task: Task) -> list[Condition]:
    from mn_sim.tasks.stack_cups import IN_CUP
    return [DetectedCondition(c, f"{task.target}_inside", IN_CUP) for c in task.others] + \
        [NothingGrasped()]


@dataclass(frozen=True)
class WrongEpisode:
    task: str
    variation: int          # the episode the mistake is made in (and the expert must solve)
    mistake: str            # in words, for the report and test ids
    run: Callable           # run(env, task, variation, seed) -> Evidence, leaves v's episode
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.task}-" + re.sub(r"\W+", "_", self.mistake).strip("_")


WRONG_EPISODES = [
    WrongEpisode("close_jar", 0, "lid on the other jar", other_variations_expert(1)),
    WrongEpisode("close_jar", 0, "lid set down beside the jar",
                 edited_expert(_lid_beside_jar, _lid_on_table_beside_jar)),
    WrongEpisode("close_jar", 0, "lid held on the jar, never let go", held_at_goal()),
    WrongEpisode("insert_onto_square_peg", 0, "ring on another spoke",
                 expert_aimed_elsewhere(_ring_spoke, _ring_on_spoke)),
    WrongEpisode("light_bulb_in", 0, "bulb from the other stand screwed in",
                 other_variations_expert(1)),
    WrongEpisode("light_bulb_in", 0, "bulb held after the last twist, never let go",
                 held_at_goal(skip=1)),
    WrongEpisode("meat_off_grill", 0, "steak taken off instead of the chicken",
                 other_variations_expert(1)),
    WrongEpisode("meat_off_grill", 0, "chicken held beside the grill, never let go",
                 held_at_goal()),
    WrongEpisode("open_drawer", 0, "middle drawer opened instead of the bottom one",
                 other_variations_expert(1)),
    WrongEpisode("place_cups", 1, "one mug hung when two were asked", other_variations_expert(0)),
    WrongEpisode("place_shape_in_shape_sorter", 0, "cylinder put in instead of the cube",
                 other_variations_expert(1)),
    WrongEpisode("place_wine_at_rack_location", 0, "bottle in the left slot, not the middle",
                 other_variations_expert(1)),
    WrongEpisode("place_wine_at_rack_location", 0, "bottle held in the slot, never let go",
                 held_at_goal()),
    WrongEpisode("push_buttons", 1, "buttons pushed in reverse order",
                 edited_expert(_buttons_reversed, _both_buttons_lit)),
    WrongEpisode("put_groceries_in_cupboard", 0, "grocery held in the cupboard, never let go",
                 held_at_goal()),
    WrongEpisode("put_item_in_drawer", 0, "item in the middle drawer, not the bottom one",
                 other_variations_expert(1)),
    WrongEpisode("put_money_in_safe", 0, "money on the middle shelf, not the bottom one",
                 other_variations_expert(1)),
    WrongEpisode("put_money_in_safe", 0, "money held on the shelf, never let go",
                 held_at_goal()),
    WrongEpisode("reach_and_drag", 0, "cube dragged only a third of the way",
                 edited_expert(_drag_short, _cube_moved,
                               before=lambda env: {"cube": env.sim.body_pos("cube")})),
    WrongEpisode("slide_block_to_color_target", 2, "block slid to green, not pink",
                 other_variations_expert(0)),
    WrongEpisode("stack_blocks", 1, "two blocks stacked when three were asked",
                 other_variations_expert(0)),
    WrongEpisode("stack_blocks", 0, "second block held on the first, never let go",
                 held_at_goal(skip=1)),
    WrongEpisode("stack_cups", 0, "cups stacked into the wrong cup",
                 expert_aimed_elsewhere(_cups_into_cup0, _cups_in)),
    WrongEpisode("sweep_to_dustpan_of_size", 0, "dirt swept into the short dustpan, not the tall",
                 other_variations_expert(1)),
    WrongEpisode("turn_tap", 0, "right tap turned instead of the left", other_variations_expert(1)),
]


# ---------------------------------------------------------------------------- the check
def check_task_can_fail(env: MNEnv, case: WrongEpisode) -> None:
    """Raise AssertionError unless case.task's success is False at reset, True after the expert
    and False after the wrong episode (which must really make its mistake)."""
    name, v, seed = case.task, case.variation, case.seed
    where = f"{name} (variation {v}, seed {seed})"
    _reset(env, name, v, seed)
    assert not env.task.success(), (
        f"{where}: success is True at reset, before anything was done; its success conditions "
        "must describe the goal state, which the start state is not")
    ok, reason, _ = env.run_expert(name, v, seed)
    assert ok, (f"{where}: the expert failed ({reason}); this test needs a seed where it "
                "succeeds: change WrongEpisode.seed")
    evidence = case.run(env, name, v, seed)
    assert env.task.name == name and env.task.variation == v, "the wrong episode left the episode"
    assert not env.task.success(), (
        f"{where}: success is True after a wrong episode ({case.mistake}); the task's success "
        "conditions do not tell this mistake from the goal")
    assert evidence is None, (
        f"{where}: the wrong episode did not make its mistake ({case.mistake}): {evidence}. "
        "Fix the script in test/sim/test_task_failures.py; the task is not at fault")


# ---------------------------------------------------------------------------- tests
def test_every_task_has_a_wrong_episode():
    missing = sorted(set(task_names()) - {c.task for c in WRONG_EPISODES})
    assert not missing, f"add a WrongEpisode for: {missing}"


@pytest.mark.slow
def test_no_task_succeeds_at_reset(env):
    """Every variation of every task, at one seed each."""
    succeeded = []
    for name in task_names():
        for v in range(get_task_class(name)().variation_count()):
            _reset(env, name, v, seed=100 + v)
            if env.task.success():
                succeeded.append((name, v))
    assert not succeeded, f"success is True at reset for (task, variation) {succeeded}"


@pytest.mark.slow
@pytest.mark.parametrize("case", WRONG_EPISODES, ids=lambda c: c.id)
def test_task_fails_after_a_wrong_episode_and_succeeds_after_the_expert(env, case):
    check_task_can_fail(env, case)


# ---- the checks above catch broken success conditions (the conditions are patched, not the
# ---- tasks' files: monkeypatch restores them)
class _Always(Condition):
    def condition_met(self, sim) -> bool:
        return True


class _AnyOf(Condition):
    def __init__(self, conditions):
        self.conditions = conditions

    def condition_met(self, sim) -> bool:
        return any(c.condition_met(sim) for c in self.conditions)


def _case(task: str) -> WrongEpisode:
    return next(c for c in WRONG_EPISODES if c.task == task)


def _patch_conditions(monkeypatch, task: str, replace: Callable[[Task, list], list]) -> None:
    cls = get_task_class(task)

    def register(self, conditions):
        Task.register_success_conditions(self, replace(self, conditions))
    monkeypatch.setattr(cls, "register_success_conditions", register)


def test_a_task_whose_success_is_always_true_fails_the_check(env, monkeypatch):
    _patch_conditions(monkeypatch, "open_drawer", lambda t, conds: [_Always()])
    with pytest.raises(AssertionError, match="success is True at reset"):
        check_task_can_fail(env, _case("open_drawer"))


def test_a_success_that_ignores_which_drawer_fails_the_check(env, monkeypatch):
    from mn_sim.props.drawers import DRAWER_NAMES
    _patch_conditions(monkeypatch, "open_drawer", lambda t, conds: [
        _AnyOf([JointCondition(f"cabinet_{d}_joint", 0.15) for d in DRAWER_NAMES])])
    with pytest.raises(AssertionError, match="success is True after a wrong episode"):
        check_task_can_fail(env, _case("open_drawer"))


class _Latched(Condition):
    """True from the first time the wrapped condition was met (a button that was pressed)."""
    stateful = True          # polled during physics, so it sees a press

    def __init__(self, condition):
        self.condition, self.latched = condition, False

    def reset(self) -> None:
        self.latched = False

    def condition_met(self, sim) -> bool:
        self.latched = self.latched or self.condition.condition_met(sim)
        return self.latched


def test_a_success_that_ignores_the_button_order_fails_the_check(env, monkeypatch):
    # every target button pressed at some time, in any order
    _patch_conditions(monkeypatch, "push_buttons", lambda t, conds: [
        _Latched(c) for c in t.presses[:t.n_push]])
    with pytest.raises(AssertionError, match="success is True after a wrong episode"):
        check_task_can_fail(env, _case("push_buttons"))


def test_a_success_that_ignores_the_release_fails_the_check(env, monkeypatch):
    _patch_conditions(monkeypatch, "put_groceries_in_cupboard", lambda t, conds: [
        c for c in conds if not isinstance(c, NothingGrasped)])
    with pytest.raises(AssertionError, match="success is True after a wrong episode"):
        check_task_can_fail(env, _case("put_groceries_in_cupboard"))
