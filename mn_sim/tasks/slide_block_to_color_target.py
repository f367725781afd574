"""slide_block_to_color_target: push a block onto one of four coloured targets (PerAct's RLBench:
4 variations). The targets form a 2x2 grid in front of the block: green and pink lie straight
ahead (one push), blue and yellow one row aside (push forward, then sideways)."""
import numpy as np

from mn_sim.conditions import DetectedCondition
from mn_sim.geometry import rot_z, yaw_quat_wxyz
from mn_sim.props.blocks import add_free_box
from mn_sim.props.targets import add_flat_target
from mn_sim.tasks.base import Task

TARGET_COLORS = ("green", "blue", "pink", "yellow")
TARGET_RGBA = {"green": (0.0, 0.8, 0.0, 1.0), "blue": (0.0, 0.2, 1.0, 1.0),
               "pink": (1.0, 0.45, 0.75, 1.0), "yellow": (1.0, 0.9, 0.0, 1.0)}
# grid cell of each target: (rows ahead of the first row, rows aside of the block's line)
TARGET_CELLS = {"green": (0, 0), "blue": (0, 1), "pink": (1, 0), "yellow": (1, 1)}
BLOCK_HALF = 0.025
TARGET_HALF = 0.05
CELL = 0.105            # grid spacing
FIRST_ROW = 0.15        # from the block's start to the first row of targets
FINGER_HALF = 0.0105    # closed fingers' half thickness along the push
PUSH_Z = 0.022          # tool point above the table while pushing (fingertips ~1.2 cm up)
HOVER = 0.09


class SlideBlockToColorTarget(Task):
    state_bodies = ("block",)

    def init_task(self, scene) -> None:
        add_free_box(scene, "block", (BLOCK_HALF,) * 3, (0.85, 0.1, 0.1, 1.0), mass=0.1,
                     friction=0.4)
        board = scene.body("slide_targets")
        for c in TARGET_COLORS:   # laid out for side = +1; init_episode mirrors as needed
            ahead, aside = TARGET_CELLS[c]
            add_flat_target(scene, board, f"target_{c}", TARGET_HALF, TARGET_RGBA[c],
                            pos=(FIRST_ROW + ahead * CELL, aside * CELL))

    def variation_count(self) -> int:
        return 4

    def init_episode(self, variation: int) -> list[str]:
        self.color = TARGET_COLORS[variation]
        self.yaw = self.rng.uniform(-np.pi / 8, np.pi / 8)
        self.side = float(self.rng.choice([-1.0, 1.0]))    # which side the second row is on
        start = np.array([self.rng.uniform(-0.1, -0.02), self.rng.uniform(-0.12, 0.12)])
        self.start = start - self.side * 0.5 * CELL * self.axes()[1]   # keep the grid central
        self.sim.set_body_pose("slide_targets", (*self.start, self.table_z),
                               yaw_quat_wxyz(self.yaw))
        self.sim.set_free_pose("block", (*self.start, self.table_z + BLOCK_HALF),
                               yaw_quat_wxyz(self.yaw))
        # the targets' positions in the board frame (its origin is the block's start)
        m = self.sim.model
        for c in TARGET_COLORS:
            ahead, aside = TARGET_CELLS[c]
            local = (FIRST_ROW + ahead * CELL, self.side * aside * CELL)
            m.geom_pos[m.geom(f"target_{c}").id][:2] = local
            m.site_pos[m.site(f"target_{c}").id][:2] = local
        self.sim.forward()
        self.register_success_conditions([
            DetectedCondition("block", f"target_{self.color}",
                              (TARGET_HALF - 0.01, TARGET_HALF - 0.01, 0.04))])
        c = self.color
        return [f"slide the block to {c} target",
                f"slide the block onto the {c} square",
                f"push the block until it is sitting on top of the {c} target",
                f"slide the block towards the {c} plane",
                f"cover the {c} target with the block by pushing the block in its direction"]

    def low_dim_state(self) -> np.ndarray:
        """Block position, then the centres of the green, blue, pink and yellow targets."""
        return np.concatenate([self.sim.body_pos("block")] +
                              [self.sim.site_pos(f"target_{c}") for c in TARGET_COLORS])

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors (2D): forward (away from the robot) and towards the second row."""
        R = rot_z(self.yaw)[:2, :2]
        return R @ np.array([1.0, 0.0]), R @ np.array([0.0, self.side])

    def push(self, block_xy, goal_xy, direction):
        """Actions that push the block from block_xy to goal_xy along `direction` (2D unit)."""
        back = BLOCK_HALF + FINGER_HALF
        yaw = self.nearest_yaw(np.arctan2(direction[1], direction[0]))
        q = self.down(yaw)
        z0, z1 = self.table_z + PUSH_Z, self.table_z + HOVER
        pre = block_xy - (back + 0.015) * direction
        end = goal_xy - back * direction   # the block stops with the fingers
        yield self.action((*pre, z1), q, False, False)
        yield self.action((*pre, z0), q, False, True)
        yield self.action((*end, z0), q, False, True)

    def expert(self):
        fwd, aside = self.axes()
        block = self.sim.body_pos("block")[:2]
        goal = self.sim.site_pos(f"target_{self.color}")[:2]
        along = float(np.dot(goal - block, fwd))
        corner = block + along * fwd
        yield from self.push(block, corner, fwd)
        if TARGET_CELLS[self.color][1]:   # lift clear, then push sideways onto the target
            last = self.sim.tcp_pose()
            yield self.action(last[:3] + [0.0, 0.0, HOVER - PUSH_Z], last[3:], False, True)
            block = self.sim.body_pos("block")[:2]
            yield from self.push(block, goal, aside)

