"""The Panda in MuJoCo: IK, collision-checked interpolated paths, execution, cameras.

`Sim.execute(action)` is RLBench's EndEffectorPoseViaPlanning + Discrete gripper: solve IK for
the target tool pose, build a path (straight line in Cartesian space, else joint-space
interpolation), check it for collisions unless told to ignore them, drive the arm along it under
physics, then open or close the gripper. Failures come back as a reason string, never raised.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mujoco
import numpy as np

from mn_sim.geometry import mat_to_quat, quat_angle, quat_to_mat, rotvec_from_mat, slerp
from mn_sim.scene import (ARM_JOINTS, CAMERA_FAR, CAMERA_NEAR, FINGER_JOINTS, HOME_QPOS,
                          build_spec)
from mn_sim.types import CameraObs, Observation

GRIPPER_OPEN_CTRL, GRIPPER_CLOSED_CTRL = 255.0, 0.0
# IK acceptance: a pose counts as reached within these errors. The rotation tolerance is
# looser than the solver's target (a quarter of each) because a learned policy predicts
# rotations in 5-degree bins: a predicted pose is up to ~4.3 deg (half a bin on each of three
# axes) from a reachable one.
POS_TOL, ROT_TOL = 0.004, np.deg2rad(4.5)
CONVERGED_POS, CONVERGED_ROT = 0.001, np.deg2rad(0.5)   # the solver stops below both
MAX_JOINT_SPEED = 1.2                          # rad/s along a path
CART_STEP, ROT_STEP = 0.01, np.deg2rad(4.0)  # Cartesian path resolution
# Segmentation masks hold one integer "handle" per MuJoCo body, as RLBench's hold CoppeliaSim
# object handles: handle = body id + 1, so 0 is the background (no object) and 1 is the world
# body (floor). Handles are stable for a task's scene (same model, same ids in every episode);
# Sim.mask_labels() names them.
MASK_HANDLE_OFFSET = 1


@dataclass
class StepResult:
    ok: bool
    reason: str = ""


class Sim:
    """One compiled scene (robot + one task's objects) with its data and renderer."""

    def __init__(self, task=None, image_size: int = 128, cameras=("front", "left_shoulder",
                 "right_shoulder", "wrist"), robot_visual: str = "fast", masks: bool = False):
        self.task = task
        self.masks = bool(masks)   # observations carry segmentation masks (mask_handles)
        self.spec = build_spec(task, cameras=set(cameras))
        self.model = self.spec.compile()
        # depth comes back in metres between these planes (MuJoCo stores them relative to extent)
        self.model.vis.map.znear = CAMERA_NEAR / self.model.stat.extent
        self.model.vis.map.zfar = CAMERA_FAR / self.model.stat.extent
        self.model.light_castshadow[:] = 0   # shadows cost ~10x render time on a software GL
        if robot_visual not in ("fast", "full"):
            raise ValueError(f"robot_visual is 'fast' or 'full', got {robot_visual!r}")
        # 'fast' draws the Panda with its collision meshes (137k visual faces cost ~30 ms a
        # camera on Mesa's software renderer; the collision meshes ~3 ms).
        self.scene_option = mujoco.MjvOption()
        if robot_visual == "fast":
            self.scene_option.geomgroup[2] = 0
            self.scene_option.geomgroup[3] = 1
            for g in range(self.model.ngeom):
                if self.model.geom_group[g] == 3:
                    self.model.geom_rgba[g] = (0.92, 0.92, 0.92, 1.0)
        self.data = mujoco.MjData(self.model)
        self.scratch = mujoco.MjData(self.model)   # kinematics-only copy for IK / collision checks
        self.image_size = int(image_size)
        self.cameras = tuple(cameras)
        self._renderer = None
        self._extra_renderers: dict[int, mujoco.Renderer] = {}
        m = self.model
        self.arm_qadr = np.array([m.jnt_qposadr[m.joint(j).id] for j in ARM_JOINTS])
        self.arm_dadr = np.array([m.jnt_dofadr[m.joint(j).id] for j in ARM_JOINTS])
        self.finger_qadr = np.array([m.jnt_qposadr[m.joint(j).id] for j in FINGER_JOINTS])
        self.arm_range = np.array([m.jnt_range[m.joint(j).id] for j in ARM_JOINTS])
        self.tcp_site = m.site("tcp").id
        self.robot_bodies = {m.body(n).id for n in
                             [f"link{i}" for i in range(8)] + ["hand", "left_finger", "right_finger"]}
        self.finger_bodies = {m.body("left_finger").id, m.body("right_finger").id}
        self.robot_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] in self.robot_bodies}
        # segmentation: MuJoCo's per-pixel (object id, object type) -> the handle of the body
        # the geom (or site) belongs to: body id + MASK_HANDLE_OFFSET, 0 = nothing (background)
        self._geom_handle = (m.geom_bodyid + MASK_HANDLE_OFFSET).astype(np.int32)
        self._site_handle = (m.site_bodyid + MASK_HANDLE_OFFSET).astype(np.int32)
        self.gripper_open = True
        self.frame_callback: Callable[[], None] | None = None
        self.frame_dt: float | None = None
        self._next_frame_t = 0.0
        self.monitor: Callable[[], None] | None = None
        self._nsteps = 0

    # ------------------------------------------------------------------ state
    def reset_robot(self) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.arm_qadr] = HOME_QPOS
        self.data.qpos[self.finger_qadr] = 0.04
        self.data.ctrl[:7] = HOME_QPOS
        self.data.ctrl[7] = GRIPPER_OPEN_CTRL
        self.gripper_open = True
        mujoco.mj_forward(self.model, self.data)

    def tcp_pose(self, data=None) -> np.ndarray:
        d = self.data if data is None else data
        pos = d.site_xpos[self.tcp_site].copy()
        quat = mat_to_quat(d.site_xmat[self.tcp_site].reshape(3, 3))
        return np.concatenate([pos, quat])

    def body_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self.model.body(name).id].copy()

    def body_mat(self, name: str) -> np.ndarray:
        return self.data.xmat[self.model.body(name).id].reshape(3, 3).copy()

    def site_pos(self, name: str) -> np.ndarray:
        return self.data.site_xpos[self.model.site(name).id].copy()

    def joint_qpos(self, name: str) -> float:
        return float(self.data.qpos[self.model.jnt_qposadr[self.model.joint(name).id]])

    def set_joint_qpos(self, name: str, value: float) -> None:
        self.data.qpos[self.model.jnt_qposadr[self.model.joint(name).id]] = value

    def set_free_pose(self, body: str, pos, quat_wxyz=(1, 0, 0, 0)) -> None:
        j = self.model.body(body).jntadr[0]
        adr = self.model.jnt_qposadr[j]
        self.data.qpos[adr:adr + 3] = pos
        self.data.qpos[adr + 3:adr + 7] = quat_wxyz
        self.data.qvel[self.model.jnt_dofadr[j]:self.model.jnt_dofadr[j] + 6] = 0

    def set_body_pose(self, body: str, pos, quat_wxyz=None) -> None:
        """Move a fixed (joint-less or hinge-rooted) body; model-level, call before forward."""
        b = self.model.body(body).id
        self.model.body_pos[b] = pos
        if quat_wxyz is not None:
            self.model.body_quat[b] = quat_wxyz

    def set_rgba(self, geom: str, rgba) -> None:
        self.model.geom_rgba[self.model.geom(geom).id] = rgba

    def forward(self) -> None:
        mujoco.mj_forward(self.model, self.data)

    def settle(self, seconds: float = 0.3) -> None:
        for _ in range(int(seconds / self.model.opt.timestep)):
            self._physics_step()

    # ------------------------------------------------------------------ contacts
    def contacts_between(self, bodies_a: set[int], bodies_b: set[int] | None = None, data=None):
        d = self.data if data is None else data
        m = self.model
        out = []
        for i in range(d.ncon):
            c = d.contact[i]
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            if (b1 in bodies_a and (bodies_b is None or b2 in bodies_b)) or \
               (b2 in bodies_a and (bodies_b is None or b1 in bodies_b)):
                out.append((c.geom1, c.geom2))
        return out

    def root_body(self, body_id: int) -> int:
        m = self.model
        while m.body_parentid[body_id] != 0:
            body_id = m.body_parentid[body_id]
        return body_id

    def grasped_bodies(self) -> set[int]:
        """Free bodies touched by both fingers (what RLBench calls grasped objects)."""
        m, d = self.model, self.data
        touched: dict[int, set[int]] = {}
        for i in range(d.ncon):
            c = d.contact[i]
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            for f, o in ((b1, b2), (b2, b1)):
                if f in self.finger_bodies and o not in self.robot_bodies and o != 0:
                    touched.setdefault(o, set()).add(f)
        return {b for b, fs in touched.items() if len(fs) == 2 and m.body_jntnum[b] > 0}

    # ------------------------------------------------------------------ IK
    def solve_ik(self, pos, quat_xyzw, q_seed=None, max_iters: int = 150) -> tuple[np.ndarray, float, float]:
        """Damped least squares on the scratch copy. Returns (q, pos_err, rot_err)."""
        m, d = self.model, self.scratch
        d.qpos[:] = self.data.qpos
        if q_seed is not None:
            d.qpos[self.arm_qadr] = q_seed
        target_R = quat_to_mat(quat_xyzw)
        jacp = np.zeros((3, m.nv))
        jacr = np.zeros((3, m.nv))
        lam = 0.05
        q_home = np.asarray(HOME_QPOS)
        for _ in range(max_iters):
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            err_p = np.asarray(pos) - d.site_xpos[self.tcp_site]
            cur_R = d.site_xmat[self.tcp_site].reshape(3, 3)
            err_r = rotvec_from_mat(target_R @ cur_R.T)
            ep, er = np.linalg.norm(err_p), np.linalg.norm(err_r)
            if ep < CONVERGED_POS and er < CONVERGED_ROT:
                break
            mujoco.mj_jacSite(m, d, jacp, jacr, self.tcp_site)
            J = np.vstack([jacp[:, self.arm_dadr], jacr[:, self.arm_dadr]])   # (6, 7)
            err = np.concatenate([err_p, err_r])
            JJt = J @ J.T + (lam ** 2) * np.eye(6)
            dq = J.T @ np.linalg.solve(JJt, err)
            # null-space pull toward a comfortable posture keeps solutions away from limits
            N = np.eye(7) - np.linalg.pinv(J) @ J
            dq += N @ (0.05 * (q_home - d.qpos[self.arm_qadr]))
            step = np.max(np.abs(dq))
            if step > 0.3:
                dq *= 0.3 / step
            q = np.clip(d.qpos[self.arm_qadr] + dq, self.arm_range[:, 0], self.arm_range[:, 1])
            d.qpos[self.arm_qadr] = q
        mujoco.mj_kinematics(m, d)
        err_p = np.linalg.norm(np.asarray(pos) - d.site_xpos[self.tcp_site])
        err_r = np.linalg.norm(rotvec_from_mat(target_R @ d.site_xmat[self.tcp_site].reshape(3, 3).T))
        return d.qpos[self.arm_qadr].copy(), float(err_p), float(err_r)

    def _ik_ok(self, ep, er) -> bool:
        return ep < POS_TOL and er < ROT_TOL

    def ik_with_restarts(self, pos, quat, rng=None, restarts: int = 6):
        rng = np.random.default_rng(0) if rng is None else rng
        best = self.solve_ik(pos, quat)
        if self._ik_ok(best[1], best[2]):
            return best
        for k in range(restarts):
            seed = np.asarray(HOME_QPOS) if k == 0 else rng.uniform(self.arm_range[:, 0], self.arm_range[:, 1])
            cand = self.solve_ik(pos, quat, q_seed=seed, max_iters=250)
            if cand[1] + cand[2] < best[1] + best[2]:
                best = cand
            if self._ik_ok(best[1], best[2]):
                break
        return best

    # ------------------------------------------------------------------ planning
    def _cartesian_path(self, pos, quat):
        """Straight line in Cartesian space (RLBench tries a linear path first), or None."""
        q0 = self.data.qpos[self.arm_qadr].copy()
        start = self.tcp_pose()
        dist = np.linalg.norm(np.asarray(pos) - start[:3])
        ang = quat_angle(start[3:], quat)
        n = max(2, int(np.ceil(max(dist / CART_STEP, ang / ROT_STEP))) + 1)
        path, q = [q0], q0
        for i in range(1, n):
            t = i / (n - 1)
            q_new, ep, er = self.solve_ik((1 - t) * start[:3] + t * np.asarray(pos),
                                          slerp(start[3:], quat, t), q_seed=q, max_iters=60)
            if not self._ik_ok(ep, er) or np.max(np.abs(q_new - q)) > 0.35:
                return None
            path.append(q_new)
            q = q_new
        return path

    def _joint_path(self, q_goal, q0=None):
        q0 = self.data.qpos[self.arm_qadr].copy() if q0 is None else q0
        steps = max(2, int(np.ceil(np.max(np.abs(q_goal - q0)) / 0.05)) + 1)
        return [q0 + (q_goal - q0) * t for t in np.linspace(0, 1, steps)]

    def _via_paths(self, pos, quat, q_goal):
        """Joint paths through a raised midpoint (a cheap stand-in for a sampling planner)."""
        start = self.tcp_pose()
        q0 = self.data.qpos[self.arm_qadr].copy()
        for lift in (0.15, 0.3):
            mid = (start[:3] + np.asarray(pos)) / 2 + np.array([0.0, 0.0, lift])
            for frac in (0.5, 0.0, 1.0):
                q_via, ep, er = self.solve_ik(mid, slerp(start[3:], quat, frac), q_seed=q0)
                if self._ik_ok(ep, er):
                    yield self._joint_path(q_via, q0) + self._joint_path(q_goal, q_via)[1:]

    def plan(self, pos, quat, check=None, goal_candidates: int = 6):
        """Joint-space waypoints from the current configuration to the target tool pose.

        Tries the straight Cartesian line, then joint-space interpolation to several IK
        solutions of the goal (nearest first). `check(path) -> reason` rejects a path (the
        collision check); the first path it accepts is returned, else (None, reason)."""
        reason = ""
        path = self._cartesian_path(pos, quat)
        if path is not None:
            reason = check(path) if check else ""
            if not reason:
                return path, ""
        q0 = self.data.qpos[self.arm_qadr].copy()
        rng = np.random.default_rng(0)
        goals, best = [], None
        for k in range(goal_candidates + 1):
            seed = None if k == 0 else (np.asarray(HOME_QPOS) if k == 1 else
                                        rng.uniform(self.arm_range[:, 0], self.arm_range[:, 1]))
            cand = self.solve_ik(pos, quat, q_seed=seed, max_iters=150 if k == 0 else 250)
            if best is None or cand[1] + cand[2] < best[1] + best[2]:
                best = cand
            if self._ik_ok(cand[1], cand[2]):
                goals.append(cand[0])
                if check is None:
                    break
        if not goals:
            return None, (f"ik: target pose unreachable (position error {best[1]:.3f} m, "
                          f"rotation error {np.rad2deg(best[2]):.1f} deg)")
        goals.sort(key=lambda g: float(np.max(np.abs(g - q0))))
        for q_goal in goals:
            path = self._joint_path(q_goal)
            r = check(path) if check else ""
            if not r:
                return path, ""
            reason = reason or r
        for q_goal in goals[:2]:
            for path in self._via_paths(pos, quat, q_goal):
                if not check(path):
                    return path, ""
        return None, reason

    def path_collision(self, path, allowed_bodies: set[int]) -> str:
        """First robot-vs-world contact along a path (kinematic check), or ''."""
        m, d = self.model, self.scratch
        for q in path[1:]:
            d.qpos[:] = self.data.qpos
            d.qpos[self.arm_qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_collision(m, d)
            for i in range(d.ncon):
                c = d.contact[i]
                if c.dist > 0:
                    continue
                g1, g2 = c.geom1, c.geom2
                r1, r2 = g1 in self.robot_geoms, g2 in self.robot_geoms
                if r1 == r2:
                    continue
                other = g2 if r1 else g1
                ob = m.geom_bodyid[other]
                if ob in allowed_bodies or self.root_body(ob) in allowed_bodies:
                    continue
                name = m.geom(other).name or m.body(ob).name
                return f"collision: path hits {name}"
        return ""

    # ------------------------------------------------------------------ execution
    def _physics_step(self) -> None:
        mujoco.mj_step(self.model, self.data)
        self._nsteps += 1
        if self.monitor is not None and self._nsteps % 5 == 0:
            self.monitor()   # lets latched success conditions see transient states
        if self.frame_callback is not None and self.frame_dt is not None:
            if self.data.time + 1e-9 >= self._next_frame_t:
                self._next_frame_t += self.frame_dt
                self.frame_callback()

    def start_recording(self, frame_dt: float | None, callback: Callable[[], None] | None) -> None:
        self.frame_dt = frame_dt
        self.frame_callback = callback
        self._next_frame_t = self.data.time + (frame_dt or 0.0)

    def _track(self, path) -> None:
        dt = self.model.opt.timestep
        for a, b in zip(path[:-1], path[1:]):
            seg_t = max(np.max(np.abs(b - a)) / MAX_JOINT_SPEED, dt)
            n = max(1, int(round(seg_t / dt)))
            for k in range(1, n + 1):
                self.data.ctrl[:7] = a + (b - a) * (k / n)
                self._physics_step()
        # settle on the final target
        goal = path[-1]
        for _ in range(int(0.6 / dt)):
            self._physics_step()
            if np.max(np.abs(self.data.qpos[self.arm_qadr] - goal)) < 2e-3 and \
               np.max(np.abs(self.data.qvel[self.arm_dadr])) < 0.02:
                break

    def actuate_gripper(self, open_: bool) -> None:
        if open_ == self.gripper_open:
            return
        self.gripper_open = open_
        self.data.ctrl[7] = GRIPPER_OPEN_CTRL if open_ else GRIPPER_CLOSED_CTRL
        dt = self.model.opt.timestep
        fdof = self.model.jnt_dofadr[self.model.joint(FINGER_JOINTS[0]).id]
        for i in range(int(0.8 / dt)):
            self._physics_step()
            still = abs(self.data.qvel[fdof]) < 1e-3
            # opening is done only when the fingers are apart (they can stick for a moment)
            opened = (not open_) or self.data.qpos[self.finger_qadr[0]] >= 0.039
            if i > 40 and still and opened:
                break
        # let what was grasped or released come to rest
        for _ in range(int(0.1 / dt)):
            self._physics_step()

    def execute(self, pos, quat, gripper_open: bool, ignore_collisions: bool) -> StepResult:
        pos = np.asarray(pos, dtype=float)
        quat = np.asarray(quat, dtype=float)
        if pos.shape != (3,) or quat.shape != (4,) or not np.all(np.isfinite(pos)) or \
           not np.all(np.isfinite(quat)) or np.linalg.norm(quat) < 1e-6:
            return StepResult(False, f"invalid action: position {pos.tolist()} quaternion {quat.tolist()}")
        quat = quat / np.linalg.norm(quat)
        check = None
        if not ignore_collisions:
            allowed = {self.root_body(b) for b in self.grasped_bodies()}
            def check(path):  # noqa: E306
                return self.path_collision(path, allowed)
        path, reason = self.plan(pos, quat, check)
        if path is None:
            return StepResult(False, reason)
        self._track(path)
        self.actuate_gripper(bool(gripper_open))
        return StepResult(True)

    # ------------------------------------------------------------------ sensing
    @property
    def renderer(self) -> mujoco.Renderer:
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.image_size, self.image_size)
        return self._renderer

    def camera_params(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        m, d = self.model, self.data
        cid = m.camera(name).id
        f = 0.5 * self.image_size / np.tan(np.deg2rad(m.cam_fovy[cid]) / 2.0)
        K = np.array([[f, 0, self.image_size / 2.0], [0, f, self.image_size / 2.0], [0, 0, 1.0]])
        R = d.cam_xmat[cid].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])   # MuJoCo -> OpenCV axes
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = d.cam_xpos[cid]
        return K, T

    def render_rgb(self, camera: str, size: int, robot_alpha: float = 1.0) -> np.ndarray:
        """One RGB image of `camera` at size x size (videos and images for people; observations
        use render_cameras at the sim's image size). robot_alpha < 1 draws the robot
        translucent, so what it holds or covers shows (contact sheets)."""
        if robot_alpha < 1.0:
            geoms = sorted(self.robot_geoms)
            old = self.model.geom_rgba[geoms, 3].copy()
            self.model.geom_rgba[geoms, 3] = old * robot_alpha
            try:
                return self.render_rgb(camera, size)
            finally:
                self.model.geom_rgba[geoms, 3] = old
        if size == self.image_size:
            r = self.renderer
        else:
            r = self._extra_renderers.get(size)
            if r is None:
                r = self._extra_renderers[size] = mujoco.Renderer(self.model, size, size)
        r.update_scene(self.data, camera=camera, scene_option=self.scene_option)
        return r.render().copy()

    def render_cameras(self, cameras=None, masks: bool | None = None) -> dict[str, CameraObs]:
        """RGB, depth (metres) and parameters of each camera; with ``masks`` (default: the
        sim's ``masks``) also its segmentation mask of body handles (MASK_HANDLE_OFFSET)."""
        masks = self.masks if masks is None else bool(masks)
        r = self.renderer
        out = {}
        for name in (cameras or self.cameras):
            r.update_scene(self.data, camera=name, scene_option=self.scene_option)
            rgb = r.render().copy()
            r.enable_depth_rendering()
            depth = r.render().astype(np.float32)
            r.disable_depth_rendering()
            depth = np.minimum(depth, CAMERA_FAR)   # background (the far plane) -> far
            mask = None
            if masks:
                r.enable_segmentation_rendering()
                seg = r.render()   # (H, W, 2) int32: object id, object type; -1 = nothing
                r.disable_segmentation_rendering()
                mask = self._handles(seg)
            K, T = self.camera_params(name)
            out[name] = CameraObs(rgb=rgb, depth=depth, intrinsics=K, extrinsics=T,
                                  near=CAMERA_NEAR, far=CAMERA_FAR, mask=mask)
        return out

    def _handles(self, seg: np.ndarray) -> np.ndarray:
        """MuJoCo's segmentation (H, W, 2) -> (H, W) int32 body handles (0 = background)."""
        ids, types = seg[..., 0], seg[..., 1]
        mask = np.zeros(ids.shape, dtype=np.int32)   # (H, W)
        for obj, table in ((mujoco.mjtObj.mjOBJ_GEOM, self._geom_handle),
                           (mujoco.mjtObj.mjOBJ_SITE, self._site_handle)):
            sel = (types == int(obj)) & (ids >= 0)
            mask[sel] = table[ids[sel]]
        return mask

    def mask_labels(self) -> dict[int, str]:
        """Handle -> body name (``body<id>`` for unnamed bodies) of every body; 0: background."""
        m = self.model
        labels = {0: "background"}
        for b in range(m.nbody):
            labels[b + MASK_HANDLE_OFFSET] = m.body(b).name or f"body{b}"
        return labels

    def observe(self, task_state=None, render: bool = True, ignore_collisions: float = 1.0) -> Observation:
        d = self.data
        pose = self.tcp_pose()
        Tm = np.eye(4)
        Tm[:3, :3] = d.site_xmat[self.tcp_site].reshape(3, 3)
        Tm[:3, 3] = pose[:3]
        forces = d.qfrc_actuator[self.arm_dadr].copy()
        return Observation(
            joint_positions=d.qpos[self.arm_qadr].copy(),
            joint_velocities=d.qvel[self.arm_dadr].copy(),
            joint_forces=forces,
            gripper_open=1.0 if self.gripper_open else 0.0,
            gripper_pose=pose,
            gripper_matrix=Tm,
            gripper_joint_positions=d.qpos[self.finger_qadr].copy(),
            task_low_dim_state=np.zeros(0) if task_state is None else np.asarray(task_state, float),
            ignore_collisions=float(ignore_collisions),
            cameras=self.render_cameras() if render else {},
            misc={},
        )

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        for r in self._extra_renderers.values():
            r.close()
        self._extra_renderers.clear()
