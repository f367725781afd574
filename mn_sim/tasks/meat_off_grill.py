"""meat_off_grill: take the chicken or the steak off a barbecue grill and set it down beside it
(RLBench: 2 variations; success = that piece is in the area next to the grill and nothing is
grasped)."""
import numpy as np

from mn_sim.conditions import DetectedCondition, NothingGrasped
from mn_sim.geometry import mat_to_quat, rot_y, rot_z, xyzw_to_wxyz, yaw_of, yaw_quat_wxyz
from mn_sim.props.grill import GRILL_TOP, GRILL_WID, add_grill
from mn_sim.props.materials import STIFF_BY_MIX, stiff
from mn_sim.tasks.base import Task

MEAT = ("chicken", "steak")
STEAK = (0.05, 0.034, 0.011)          # half sizes: long x, wide y, thick z
CHICKEN_R, CHICKEN_HALF = 0.021, 0.028   # drumstick: capsule radius and half length (along x)
SIDE = (0.0, -(GRILL_WID / 2 + 0.13))   # where meat goes: beside the grill, its -y side
SIDE_HALF = (0.13, 0.09, 0.06)          # half extents of that area



class MeatOffGrill(Task):
    state_bodies = ("chicken", "steak", "grill")

    def init_task(self, scene) -> None:
        S = scene
        grill = add_grill(S)
        S.site(grill, "grill_side", pos=(SIDE[0], SIDE[1], SIDE_HALF[2]))
        steak = S.body("steak", free=True)
        stiff(S.box(steak, STEAK, (0.5, 0.18, 0.12, 1.0), mass=0.2, name="steak"), STIFF_BY_MIX)
        S.box(steak, (STEAK[0] * 0.7, 0.003, STEAK[2] + 0.0005), (0.2, 0.07, 0.05, 1.0),
              contype=0, conaffinity=0)                     # grill marks (looks only)
        chicken = S.body("chicken", free=True)
        horiz = xyzw_to_wxyz(mat_to_quat(rot_y(np.pi / 2)))  # capsule axis along body x
        stiff(S.capsule(chicken, CHICKEN_R, CHICKEN_HALF, (0.7, 0.42, 0.18, 1.0),
                          quat_wxyz=horiz, mass=0.12, name="chicken"), STIFF_BY_MIX)
        stiff(S.capsule(chicken, 0.007, 0.02, (0.95, 0.92, 0.85, 1.0), mass=0.01,
                          pos=(CHICKEN_HALF + 0.035, 0, -0.008), quat_wxyz=horiz), STIFF_BY_MIX)   # the bone

    def variation_count(self) -> int:
        return 2

    def init_episode(self, variation: int) -> list[str]:
        gx, gy = self.rng.uniform(0.1, 0.25), self.rng.uniform(-0.02, 0.15)
        self.yaw = self.rng.uniform(-np.pi / 8, np.pi / 8)
        self.sim.set_body_pose("grill", (gx, gy, self.table_z), yaw_quat_wxyz(self.yaw))
        self.sim.forward()
        # chicken on one half of the grate, steak on the other (which half is drawn, as in the
        # PerAct/ARP fork's swap), each a little shuffled
        R = rot_z(self.yaw)[:2, :2]
        top = self.table_z + GRILL_TOP
        flip = 1.0 if self.rng.random() < 0.5 else -1.0
        for name, y, z in (("chicken", 0.055 * flip, CHICKEN_R),
                           ("steak", -0.055 * flip, STEAK[2])):
            local = np.array([self.rng.uniform(-0.07, 0.05), y + self.rng.uniform(-0.01, 0.01)])
            xy = np.array([gx, gy]) + R @ local
            yaw = self.yaw + self.rng.uniform(-np.pi / 6, np.pi / 6)
            self.sim.set_free_pose(name, (xy[0], xy[1], top + z + 0.001), yaw_quat_wxyz(yaw))
        self.sim.forward()
        self.meat = MEAT[variation]
        self.register_success_conditions(
            [NothingGrasped(), DetectedCondition(self.meat, "grill_side", SIDE_HALF)])
        return [f"take the {self.meat} off the grill",
                f"pick up the {self.meat} and place it next to the grill",
                f"remove the {self.meat} from the grill and set it down to the side"]

    def expert(self):
        sim = self.sim
        R = sim.body_mat(self.meat)
        yaw = yaw_of(R)
        # fingers close across the piece (along its body y)
        q = self.down(self.nearest_yaw(yaw))
        p = sim.body_pos(self.meat)
        grip = p + [0, 0, 0.002]
        yield self.action(grip + [0, 0, 0.10], q, True, False)         # above the piece
        yield self.action(grip, q, False, True)                         # grasp
        yield self.action(grip + [0, 0, 0.10], q, False, True)          # lift off the grill
        # the half of the area nearer the robot (easier to reach)
        towards_robot = -np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])
        side = sim.site_pos("grill_side") + 0.06 * towards_robot
        z_down = self.table_z + (CHICKEN_R if self.meat == "chicken" else STEAK[2]) + 0.008
        q = self.down(self.nearest_yaw(self.yaw))
        yield self.action([side[0], side[1], z_down + 0.10], q, False, False)   # beside the grill
        yield self.action([side[0], side[1], z_down], q, True, True)            # set it down
        yield self.action([side[0], side[1], z_down + 0.10], q, True, True)     # let go, back up
