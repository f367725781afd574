"""push_buttons: push 1-3 coloured buttons in the named order (RLBench: 50 variations)."""
import itertools

import numpy as np

from mn_sim.conditions import JointCondition, OrderedConditions
from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.buttons import BUTTON_PRESSED, GREEN, RED, add_push_button
from mn_sim.tasks.base import COLORS, Task

MAX_TARGET_BUTTONS = 3
MAX_VARIATIONS = 50
# RLBench's push_buttons uses its own list: the 20 colours without red and lime (the plates are
# red and turn green when pushed).
BUTTON_COLORS = [c for c in COLORS if c[0] not in ("red", "lime")]
COLOR_PERMUTATIONS = list(itertools.permutations(range(len(BUTTON_COLORS)), 3))
BUTTONS = tuple(f"push_buttons_target{i}" for i in range(3))
APPROACH = 0.083     # RLBench's waypoint height above a button
PRESS_DEPTH = 0.010  # how far the fingertips go below the plunger's resting top


class PushButtons(Task):
    state_bodies = BUTTONS

    def __init__(self):
        super().__init__()
        self.presses: list[JointCondition] = []
        self.n_push = 1

    def init_task(self, scene) -> None:
        for b in BUTTONS:
            add_push_button(scene, b)

    def variation_count(self) -> int:
        return min(len(COLOR_PERMUTATIONS) * MAX_TARGET_BUTTONS, MAX_VARIATIONS)

    def init_episode(self, variation: int) -> list[str]:
        perm = COLOR_PERMUTATIONS[variation // MAX_TARGET_BUTTONS]
        self.n_push = 1 + variation % MAX_TARGET_BUTTONS
        # buttons that are not to be pushed take random colours other than the targets'
        spare = [i for i in range(len(BUTTON_COLORS)) if i not in perm[:self.n_push]]
        others = self.rng.choice(spare, size=3 - self.n_push, replace=False)
        color_idx = list(perm[:self.n_push]) + [int(i) for i in others]
        names = [BUTTON_COLORS[i][0] for i in color_idx]

        xy = self.sample_xy(3, (-0.02, 0.26), (-0.24, 0.24), min_dist=0.12)
        for b, (x, y), ci in zip(BUTTONS, xy, color_idx):
            yaw = self.rng.uniform(-np.pi / 4, np.pi / 4)
            self.sim.set_body_pose(b, (x, y, self.table_z), yaw_quat_wxyz(yaw))
            self.sim.set_joint_qpos(f"{b}_joint", 0.0)
            self.sim.set_rgba(f"{b}_base", (*BUTTON_COLORS[ci][1], 1.0))
            self.sim.set_rgba(f"{b}_plate", RED)
            self.sim.set_rgba(f"{b}_wrap", RED)
        self.sim.forward()

        self.presses = [JointCondition(f"{b}_joint", BUTTON_PRESSED) for b in BUTTONS]
        # not latched: like RLBench, pressing a later button first does not count
        self.register_success_conditions([OrderedConditions(self.presses[:self.n_push])])

        rtn0 = f"push the {names[0]} button"
        rtn1 = f"press the {names[0]} button"
        rtn2 = f"push down the button with the {names[0]} base"
        for c in names[1:self.n_push]:
            rtn0 += f", then push the {c} button"
            rtn1 += f", then press the {c} button"
            rtn2 += f", then the {c} one"
        return [rtn0, rtn1, rtn2]

    def monitor(self) -> None:
        super().monitor()
        for b, cond in zip(BUTTONS, self.presses):   # a pushed button lights up (RLBench's step)
            if cond.condition_met(self.sim):
                self.sim.set_rgba(f"{b}_plate", GREEN)
                self.sim.set_rgba(f"{b}_wrap", GREEN)

    def expert(self):
        q = self.down(0.0)
        for k in range(self.n_push):
            top = self.sim.site_pos(f"{BUTTONS[k]}_top")
            above = top + [0.0, 0.0, APPROACH]
            # the closed fingertips reach ~1 cm below the tool point
            press = top + [0.0, 0.0, 0.0098 - PRESS_DEPTH]
            yield self.action(above, q, False, False)
            yield self.action(press, q, False, True)
            yield self.action(above, q, False, True)


