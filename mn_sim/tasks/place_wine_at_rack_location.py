"""place_wine_at_rack_location: pick up the wine bottle standing on the table and lay it in the
middle, left or right cradle of a wine rack (RLBench: 3 variations; success when the bottle is
in that slot's region and nothing is grasped).

The rack is a low wooden stand with three V-shaped cradles side by side; a bottle laid in one
lies horizontally along the rack's depth, neck away from the robot, and cannot roll out. Left
is the robot's left (+y when the rack faces the robot). As in RLBench the rack and the bottle
keep one arrangement (rack in front on the robot's left, bottle upright on its right), shifted
and turned a little per episode.

Unlike RLBench's shelf-like rack, into which the bottle slides horizontally, here the bottle is
lowered from above into an open cradle. The expert takes the bottle by its neck with the hand
pointing 45 degrees down towards the robot (where the Panda's wrist is far from its limits),
then turns the wrist half a turn about that pointing axis: the bottle, at 45 degrees to the
axis, swings from upright to level. It is carried over the slot and lowered into the cradle."""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import mat_to_quat, quat_to_mat, rot_z, yaw_quat_wxyz
from mn_sim.props.wine import (BOTTLE_BODY_HALF, NECK_Z, RACK_HALF_W, add_wine_bottle,
                               add_wine_rack)
from mn_sim.tasks.base import Task

LOCATIONS = ("middle", "left", "right")   # RLBench's order: variation i -> LOCATIONS[i]
BOTTLE, RACK = "wine_bottle", "wine_rack"
IN_SLOT = (0.05, 0.035, 0.035)   # half extents of a slot's success region (rack frame)



def tilted_quat(yaw: float, rolled: bool = False) -> np.ndarray:
    """Gripper pointing 45 degrees below the horizontal along `yaw`, fingers closing
    horizontally across that direction: tool x points up and forward, or, `rolled` (turned half
    a turn about the pointing axis), down and back (xyzw).

    An upright bottle held in one of the two poses lies level in the other, its neck pointing
    the opposite way to the hand (along yaw + pi): a half turn about an axis at 45 degrees to
    the bottle lays it down."""
    f = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    z = (f - up) / np.sqrt(2.0)
    x = (f + up) / np.sqrt(2.0) * (-1.0 if rolled else 1.0)
    return mat_to_quat(np.stack([x, np.cross(z, x), z], axis=1))


class PlaceWineAtRackLocation(Task):
    state_bodies = (BOTTLE, RACK)

    def init_task(self, scene) -> None:
        add_wine_rack(scene, RACK)
        add_wine_bottle(scene, BOTTLE)

    def variation_count(self) -> int:
        return 3

    def init_episode(self, variation: int) -> list[str]:
        # the rack in front of the robot on its left, the bottle standing on its right (the
        # Panda's last joint then has room for the half turn; RLBench also keeps the two in one
        # arrangement, turned as a whole)
        rx, ry = self.rng.uniform(-0.12, -0.07), self.rng.uniform(0.04, 0.09)
        self.yaw = self.rng.uniform(-np.pi / 10, np.pi / 10)
        self.sim.set_body_pose(RACK, (rx, ry, self.table_z), yaw_quat_wxyz(self.yaw))
        bx = self.rng.uniform(-0.08, 0.05)
        by = ry - (RACK_HALF_W + self.rng.uniform(0.07, 0.12))
        self.sim.set_free_pose(BOTTLE, (bx, by, self.table_z + BOTTLE_BODY_HALF + 0.001),
                               yaw_quat_wxyz(self.rng.uniform(-np.pi, np.pi)))
        self.sim.forward()
        self.location = LOCATIONS[variation]
        self.register_success_conditions(
            [DetectedCondition(BOTTLE, f"{RACK}_{self.location}", IN_SLOT), NothingGrasped()])
        loc = self.location
        return [f"stack the wine bottle to the {loc} of the rack",
                f"slide the bottle onto the {loc} part of the rack",
                f"put the wine on the {loc}",
                f"leave the wine on the {loc} section of the shelf",
                f"grasp the bottle and put it away on the {loc}"]

    def expert(self):
        sim = self.sim
        up = np.array([0.0, 0.0, 1.0])
        R = sim.body_mat(BOTTLE)
        neck = sim.body_pos(BOTTLE) + R @ [0.0, 0.0, NECK_Z]
        slot = sim.site_pos(f"{RACK}_{self.location}")
        # the hand points back along the rack's depth, so the bottle, once level, lies the way
        # the cradles run. It takes the neck with the wrist turned as at the start (the last
        # joint mid-range) and turns it half a turn, the way that keeps that joint in range: a
        # quarter while lifting, a quarter while carrying (half a turn at once could go either
        # way)
        aim = self.yaw + np.pi
        q = tilted_quat(aim, rolled=True)
        q_place = tilted_quat(aim, rolled=False)
        yield self.action(neck + 0.08 * up, q, True, False)        # above the neck
        yield self.action(neck, q, False, True)                    # grasp the neck
        q_lift = mat_to_quat(quat_to_mat(q) @ rot_z(-np.pi / 2))
        yield self.action(neck + 0.2 * up, q_lift, False, True)    # lift, turning the wrist
        # where the bottle sits in the hand, measured now that it is held
        offset = self.held_offset(BOTTLE)
        yield self.action(self.tool_position(slot + 0.08 * up, q_place, offset), q_place, False,
                          False)                                           # over the slot
        place = self.tool_position(slot + 0.004 * up, q_place, offset)
        yield self.action(place, q_place, True, True)              # lay it in, let go
        yield self.action(place + 0.1 * up, q_place, True, True)   # withdraw
