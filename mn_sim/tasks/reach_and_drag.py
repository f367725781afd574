"""reach_and_drag: pick up a stick and use it as a rake to drag a cube onto the target
(RLBench: 20 variations, the target's colour)."""
import numpy as np

from mn_sim.conditions import DetectedCondition
from mn_sim.geometry import yaw_quat_wxyz
from mn_sim.props.blocks import add_free_box
from mn_sim.props.targets import add_flat_target
from mn_sim.scene import ROBOT_BASE
from mn_sim.tasks.base import COLORS, Task

STICK_HALF = (0.15, 0.0125, 0.0125)   # a 30 cm stick with a square section
CUBE_HALF = 0.02
TARGET_HALF = 0.045
GRIP_FROM_END = 0.03     # the stick is grasped this far from its end
REACH = 0.17             # where along the stick (from the grasp) the cube is met
LIFT = 0.12
DRAG_CLEARANCE = 0.006   # stick bottom above the table while dragging
MAX_LOW_REACH = 0.75     # how far from the base (xy) the Panda reaches a tool point near the table



class ReachAndDrag(Task):
    state_bodies = ("stick", "cube", "drag_target")

    def init_task(self, scene) -> None:
        add_free_box(scene, "stick", STICK_HALF, (0.45, 0.3, 0.15, 1.0), mass=0.06, friction=1.0)
        add_free_box(scene, "cube", (CUBE_HALF,) * 3, (0.2, 0.2, 0.8, 1.0), mass=0.08,
                     friction=0.4)
        target = scene.body("drag_target")
        add_flat_target(scene, target, "target0", TARGET_HALF, (1.0, 0.0, 0.0, 1.0),
                        pos=(0.0, 0.0))
        scene.site(target, "success0", pos=(0.0, 0.0, 1e-3))   # kept apart from the body frame

    def variation_count(self) -> int:
        return len(COLORS)

    def init_episode(self, variation: int) -> list[str]:
        color_name, rgb = COLORS[variation]
        self.sim.set_rgba("target0", (*rgb, 1.0))
        self.side = float(self.rng.choice([-1.0, 1.0]))           # the stick's side of the table
        for _ in range(100):   # the hand must reach behind the cube, low over the table
            cube = np.array([self.rng.uniform(0.12, 0.23), self.rng.uniform(-0.08, 0.08)])
            ang = self.rng.uniform(-0.3, 0.3)
            self.drag_dir = np.array([-np.cos(ang), np.sin(ang)])  # from the cube to the target
            hand = self.drag_start(cube, self.drag_dir)
            if np.linalg.norm(hand - np.asarray(ROBOT_BASE[:2])) <= MAX_LOW_REACH:
                break
        target = cube + self.rng.uniform(0.16, 0.21) * self.drag_dir
        stick = np.array([self.rng.uniform(0.02, 0.12), self.side * self.rng.uniform(0.25, 0.3)])
        stick_yaw = self.rng.uniform(-0.25, 0.25)
        self.sim.set_free_pose("cube", (*cube, self.table_z + CUBE_HALF),
                               yaw_quat_wxyz(np.arctan2(-self.drag_dir[1], -self.drag_dir[0])))
        self.sim.set_free_pose("stick", (*stick, self.table_z + STICK_HALF[2]),
                               yaw_quat_wxyz(stick_yaw))
        self.sim.set_body_pose("drag_target", (*target, self.table_z),
                               yaw_quat_wxyz(self.rng.uniform(-np.pi / 4, np.pi / 4)))
        self.sim.forward()
        self.register_success_conditions([
            DetectedCondition("cube", "success0", (TARGET_HALF - 0.01, TARGET_HALF - 0.01, 0.04))])
        return [f"use the stick to drag the cube onto the {color_name} target",
                f"pick up the stick and use it to push or pull the cube onto the {color_name} "
                "target",
                f"drag the block towards the {color_name} square on the table top",
                "grasping the stick by one end, pick it up and use the its other end to move the "
                f"block onto the {color_name} target"]

    def drag_start(self, cube, e) -> np.ndarray:
        """Tool position (xy) that puts the stick just behind the cube, across the drag line."""
        u = self.side * np.array([-e[1], e[0]])              # along the stick, from the hand
        return cube - (CUBE_HALF + STICK_HALF[1] + 0.025) * e - REACH * u

    def expert(self):
        sim, z0 = self.sim, self.table_z
        # grasp the stick at its end nearer the robot, fingers across it
        R = sim.body_mat("stick")
        axis = R[:2, 0] / np.linalg.norm(R[:2, 0])
        if axis[0] > 0:
            axis = -axis                                  # points to the near end
        grip = sim.body_pos("stick")[:2] + (STICK_HALF[0] - GRIP_FROM_END) * axis
        q_grip = self.down(self.nearest_yaw(np.arctan2(axis[1], axis[0])))
        yield self.action((*grip, z0 + LIFT), q_grip, True, False)
        yield self.action((*grip, z0 + STICK_HALF[2]), q_grip, False, True)
        yield self.action((*grip, z0 + LIFT), q_grip, False, True)

        # where the stick sits in the tool frame now that it is held
        rel = self.held_offset("stick")                        # stick centre, tool frame
        # a top-down tool with yaw y maps tool (x, y, z) to world (rot(y) (x, -y), -z)
        rel_h = np.array([rel[0], -rel[1]])
        cube = sim.body_pos("cube")[:2]
        goal = sim.site_pos("success0")[:2]
        e = (goal - cube) / np.linalg.norm(goal - cube)
        u = self.side * np.array([-e[1], e[0]])
        yaw = np.arctan2(u[1], u[0]) - np.arctan2(rel_h[1], rel_h[0])
        yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
        q = self.down(yaw)
        back = CUBE_HALF + STICK_HALF[1]
        centre_z = z0 + STICK_HALF[2] + DRAG_CLEARANCE
        tool_z = centre_z + rel[2]      # tool z points down: the centre lies rel[2] below
        # the stick meets the cube REACH along from the hand: start behind the cube, stop when
        # the cube's centre is over the target's
        start = self.drag_start(cube, e)
        end = goal - back * e - REACH * u
        yield self.action((*start, z0 + LIFT), q, False, False)
        yield self.action((*start, tool_z), q, False, True)
        yield self.action((*end, tool_z), q, False, True)
