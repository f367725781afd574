"""Write an mn_sim.types.Demo as one episode of the RLBench/PerAct layout, atomically.

The episode is written into ``episode<N>.tmp-<pid>`` next to its final place; ``episode.json``
is written last, then the folder is renamed to ``episode<N>``. A process killed at any moment
leaves either a complete episode or a tmp folder that readers ignore (and ``mn collect``
deletes on resume).
"""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from mn_sim.dataset import layout
from mn_sim.dataset.codec import depth_to_rgb, mask_to_rgb, write_png
from mn_sim.keyframes import keypoint_discovery
from mn_sim.types import Demo, Observation

KEYFRAME_VIDEO_FPS = 4.0   # playback rate of observer.mp4 for keyframe-only demos
# Masks are stored as the handles themselves (CameraObs.mask: 0 = background; mn_sim's body
# id + 1), RGB-coded as RLBench stores them. Episodes written before mn_sim rendered masks
# stored geom id + 1 and say so in episode.json ("mask_offset": 1, which the reader subtracts).
MASK_OFFSET = 0
MISC_PREFIX = "misc."      # numeric misc entries in low_dim_obs.npz
MISC_JSON_KEY = "misc_json"  # per-frame JSON of the non-numeric misc entries

# per-frame Observation fields stored in low_dim_obs.npz, with their dtypes
ARRAY_FIELDS = ("joint_positions", "joint_velocities", "joint_forces", "gripper_pose",
                "gripper_matrix", "gripper_joint_positions", "task_low_dim_state")
SCALAR_FIELDS = ("gripper_open", "ignore_collisions")
CAMERA_FIELDS = ("intrinsics", "extrinsics", "near", "far")


def _stack(name: str, values: list) -> np.ndarray:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"observation field {name!r} changes shape within the episode: "
                         f"{sorted(shapes)}; every frame must have the same shape")
    return np.stack(arrays)  # (T, ...)


def low_dim_arrays(observations: Sequence[Observation], cameras: Sequence[str]) -> dict:
    """Every non-image Observation field as arrays with a leading time axis (T, ...)."""
    out: dict[str, np.ndarray] = {}
    for name in ARRAY_FIELDS + SCALAR_FIELDS:
        out[name] = _stack(name, [getattr(o, name) for o in observations])
    for cam in cameras:
        for f in CAMERA_FIELDS:
            out[f"{cam}_camera_{f}"] = _stack(f"{cam}.{f}",
                                              [getattr(o.cameras[cam], f) for o in observations])
    # misc: numeric entries present in every frame -> arrays; the rest -> JSON per frame
    keys = set().union(*(o.misc.keys() for o in observations)) if observations else set()
    numeric = []
    for k in sorted(keys):
        vals = [o.misc.get(k) for o in observations]
        try:
            arrs = [np.asarray(v) for v in vals]
            if all(v is not None and a.dtype.kind in "biuf" for v, a in zip(vals, arrs)) \
                    and len({a.shape for a in arrs}) == 1:
                out[MISC_PREFIX + k] = np.stack(arrs)  # (T, ...)
                numeric.append(k)
        except (TypeError, ValueError):
            pass
    rest = [{k: v for k, v in o.misc.items() if k not in numeric} for o in observations]
    if any(rest):
        try:
            out[MISC_JSON_KEY] = np.array([json.dumps(r, sort_keys=True) for r in rest])
        except TypeError as e:
            raise ValueError(f"Observation.misc values must be numbers, arrays or JSON-"
                             f"serializable: {e}") from e
    return out


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float) -> None:
    """Encode (H, W, 3) uint8 frames as H.264 mp4 (yuv420p; odd sizes are edge-padded)."""
    import av  # lazy: only the writer needs ffmpeg

    if len(frames) == 0:
        raise ValueError(f"{path}: no frames to write")
    h, w = frames[0].shape[:2]
    ph, pw = h + h % 2, w + w % 2  # yuv420p needs even sizes
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "threads": "1"}  # deterministic
        for rgb in frames:
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            if (ph, pw) != (h, w):
                rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def mask_labels_json(demo: Demo) -> dict[str, str]:
    """``demo.mask_labels`` for a JSON file: {"<handle>": name}, handles in order."""
    return {str(int(k)): str(v) for k, v in sorted(demo.mask_labels.items())}


def _json_dump(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def _check_demo(demo: Demo, cameras: Sequence[str]) -> None:
    if not demo.observations:
        raise ValueError(f"demo of {demo.task!r} (seed {demo.seed}) has no observations")
    for i, o in enumerate(demo.observations):
        missing = [c for c in cameras if c not in o.cameras]
        if missing:
            raise ValueError(f"demo of {demo.task!r}: frame {i} lacks camera(s) {missing}; "
                             f"it has {sorted(o.cameras)}")


KEYFRAME_SOURCES = ("expert", "heuristic")


def default_keyframes(demo: Demo, source: str = "expert") -> list[int]:
    """The keyframes written to kfs.json.

    source "expert": the frames where the expert's actions ended (``demo.action_frames``, its
    own waypoints); "heuristic": PerAct's keypoint discovery on the dense trajectory (method
    "peract" of mn_sim.keyframes, exactly what PerAct and ARP compute), which is all RLBench's
    demonstrations allow. On mn_sim's dense demos the heuristic also marks the
    arm settling a millimetre or two after a gripper change or at the end of a pull (e.g.
    open_drawer: frames 61, 64, 66 and 85, 88 where the expert has 68 and 88), samples whose
    observations are nearly identical but whose targets differ; the tiny policy trained on
    expert keyframes succeeds more often (README, Results). Keyframe-only demos always use
    their action frames; a dense demo without action frames falls back to the heuristic.
    """
    if source not in KEYFRAME_SOURCES:
        raise ValueError(f"keyframe source must be one of {KEYFRAME_SOURCES}; got {source!r}")
    n = len(demo.observations)
    actions = sorted({int(k) for k in demo.action_frames if 0 < int(k) < n})
    if demo.frame_rate is None:
        return actions or list(range(1, n))
    if source == "expert" and actions:
        return actions
    return keypoint_discovery(demo.observations, method="peract")


def write_episode(demo: Demo, episodes: str | os.PathLike, index: int, *,
                  cameras: Sequence[str] | None = None, keyframes: Sequence[int] | None = None,
                  masks: bool = True, video: bool = True, extra_meta: dict | None = None,
                  overwrite: bool = False) -> Path:
    """Write ``demo`` as ``<episodes>/episode<index>`` and return that path.

    Args:
        demo: the demonstration (mn_sim.types.Demo).
        episodes: the ``.../<task>/all_variations/episodes`` folder (created if missing).
        index: N of ``episode<N>``.
        cameras: cameras to save (default: all cameras of the first observation).
        keyframes: keyframe indices for kfs.json (default: :func:`default_keyframes`).
        masks: also save ``{cam}_mask`` when the observations carry masks (RGB-coded handles,
            as RLBench; episode.json's "mask_labels" names them).
        video: also write ``observer.mp4`` (else ``front.mp4`` without the observer camera).
        extra_meta: more JSON-serializable entries for episode.json (e.g. collection info).
        overwrite: replace an existing complete episode instead of raising FileExistsError.
    """
    final = layout.new_episode_path(episodes, index, overwrite)
    cams = list(cameras) if cameras is not None else list(demo.observations[0].cameras) \
        if demo.observations else []
    _check_demo(demo, cams)
    obs = demo.observations
    n = len(obs)
    with_masks = masks and all(o.cameras[c].mask is not None for o in obs for c in cams)

    kinds = ("rgb", "depth", "mask") if with_masks else ("rgb", "depth")
    with layout.writing_episode(final, cams, kinds) as tmp:
        for i, o in enumerate(obs):
            for cam in cams:
                c = o.cameras[cam]
                rgb = np.asarray(c.rgb)
                if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                    raise ValueError(f"frame {i} camera {cam}: rgb must be (H, W, 3) uint8; "
                                     f"got {rgb.dtype} {rgb.shape}")
                write_png(layout.image_path(tmp, cam, "rgb", i), rgb)
                write_png(layout.image_path(tmp, cam, "depth", i),
                          depth_to_rgb(c.depth, c.near, c.far))
                if with_masks:
                    write_png(layout.image_path(tmp, cam, "mask", i),
                              mask_to_rgb(c.mask, offset=MASK_OFFSET))
        np.savez(tmp / layout.LOW_DIM_NPZ, **low_dim_arrays(obs, cams))
        descriptions = [str(d) for d in demo.descriptions]
        _json_dump(tmp / layout.VARIATION_DESCRIPTIONS_JSON, descriptions)
        _json_dump(tmp / layout.VARIATION_NUMBER_JSON, int(demo.variation))
        kfs = [int(k) for k in (keyframes if keyframes is not None else default_keyframes(demo))]
        if any(not 0 <= k < n for k in kfs):
            raise ValueError(f"keyframes {kfs} out of range for {n} frames")
        _json_dump(tmp / layout.KEYFRAMES_JSON, kfs)
        video_fps = None
        video_cam = layout.video_camera(cams)
        if video and video_cam:
            video_fps = float(demo.frame_rate) if demo.frame_rate else KEYFRAME_VIDEO_FPS
            write_video(tmp / layout.video_file(video_cam),
                        [o.cameras[video_cam].rgb for o in obs], video_fps)
        h, w = np.asarray(obs[0].cameras[cams[0]].rgb).shape[:2] if cams else (0, 0)
        meta = {
            "format": layout.FORMAT_NAME, "format_version": layout.FORMAT_VERSION,
            "task": demo.task, "variation": int(demo.variation), "seed": int(demo.seed),
            "success": bool(demo.success), "failure_reason": demo.failure_reason,
            "frame_rate": None if demo.frame_rate is None else float(demo.frame_rate),
            "keyframe_only": demo.frame_rate is None,
            "descriptions": descriptions, "num_frames": n, "cameras": cams,
            "image_size": [int(h), int(w)], "masks": with_masks, "mask_offset": MASK_OFFSET,
            "mask_labels": mask_labels_json(demo) if with_masks else {},
            "depth_encoding": "rlbench_rgb24_near_far",
            "video": layout.video_file(video_cam) if video_fps else None, "video_fps": video_fps,
            "keyframes": kfs, "action_frames": [int(k) for k in demo.action_frames],
        }
        if extra_meta:
            meta.update(extra_meta)
        _json_dump(tmp / layout.META_JSON, meta)  # completion marker: written last
    return final
