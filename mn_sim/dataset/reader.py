"""Read episodes of the RLBench/PerAct layout: mn's own (npz + json) and real PerAct (pickles).

``load_episode(path)`` returns an :class:`Episode`: it reads the small files at once (meta,
low-dim state, keyframes) and the images only when asked (``episode[i]``,
``episode.camera(cam, i)``, ``episode.rgb(cam, i)``...). :class:`DemoDataset` indexes
``<root>/<task>/all_variations/episodes/episode*`` for many tasks; it skips corrupt episodes
with a warning naming the file (``strict=True`` raises instead).

PerAct pickles are read with :mod:`mn_sim.dataset.safe_pickle`, never with plain pickle.
Camera matrices come back in OpenCV's convention for every source: PerAct's ``misc`` entries
(PyRep's, negative focal lengths) are converted on load (mn_sim/dataset/camera_convention.py).
Without kfs.json, keyframes are PerAct's keypoint discovery (``keyframe_method="peract"``,
what PerAct and ARP compute); ``keyframe_method="mn"`` gives mn's variant.
"""
from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from mn_sim.dataset import layout
from mn_sim.dataset.camera_convention import opencv_from_pyrep
from mn_sim.dataset.codec import CorruptFileError, read_png, rgb_to_depth, rgb_to_mask
from mn_sim.dataset.safe_pickle import RLBenchDemo, safe_load
from mn_sim.dataset.writer import (ARRAY_FIELDS, CAMERA_FIELDS, MISC_JSON_KEY, MISC_PREFIX,
                                   SCALAR_FIELDS)
from mn_sim.geometry import quat_to_mat
from mn_sim.types import CameraObs, Demo, Observation


# RLBench records one observation per simulation step; CoppeliaSim's default step is 50 ms.
# (An assumption: PerAct data carries no frame rate.)
RLBENCH_FRAME_RATE = 20.0


class CorruptEpisodeError(RuntimeError):
    """An episode folder is incomplete or a file in it cannot be read (the message names it)."""


def _read_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CorruptEpisodeError(f"cannot read {path}: {e}") from e


def _read_pickle(path: Path):
    try:
        return safe_load(path)
    except pickle.UnpicklingError:
        raise
    except Exception as e:
        raise CorruptEpisodeError(f"cannot read {path}: {type(e).__name__}: {e}") from e


def _read_json_or_pkl(folder: Path, json_name: str, pkl_name: str, default=None):
    if (folder / json_name).is_file():
        return _read_json(folder / json_name)
    if (folder / pkl_name).is_file():
        return _read_pickle(folder / pkl_name)
    return default


def _as_array(value, dtype=np.float64) -> np.ndarray:
    return np.zeros(0, dtype) if value is None else np.asarray(value, dtype=dtype)


class Episode:
    """One episode on disk, RLBench-Demo-like: ``len(ep)``, ``ep[i] -> Observation``.

    Attributes: path, task, variation, descriptions, seed (None for RLBench-made data), success,
    frame_rate (None = keyframe-only), keyframes, cameras, num_frames, format ("mn"/"peract"),
    meta (the episode.json dict; for PerAct data the mn_meta.json of an mn export, else {}).
    """

    def __init__(self, path: str | os.PathLike, cameras: Sequence[str] | None = None,
                 keyframe_method: str = "peract"):
        from mn_sim.keyframes import KEYFRAME_METHODS
        if keyframe_method not in KEYFRAME_METHODS:
            raise ValueError(f"keyframe_method must be one of {KEYFRAME_METHODS}; got "
                             f"{keyframe_method!r}")
        self.path = Path(path)
        self.keyframe_method = keyframe_method
        if not self.path.is_dir():
            raise FileNotFoundError(f"no episode folder at {self.path}")
        if layout.episode_index(self.path.name) is None:
            raise CorruptEpisodeError(f"{self.path} is not an episode folder (episode<N>); "
                                      f"tmp folders are unfinished writes")
        if (self.path / layout.META_JSON).is_file():
            self._open_mn()
        elif (self.path / layout.LOW_DIM_PKL).is_file():
            self._open_peract()
        else:
            raise CorruptEpisodeError(
                f"{self.path} is incomplete: neither {layout.META_JSON} (mn) nor "
                f"{layout.LOW_DIM_PKL} (PerAct) exists")
        self.available_cameras = list(self.cameras)   # on disk; `cameras` selects a subset
        if cameras is not None:
            missing = [c for c in cameras if c not in self.cameras]
            if missing:
                raise CorruptEpisodeError(f"{self.path} has no images of camera(s) {missing}; "
                                          f"it has {self.cameras}")
            self.cameras = list(cameras)
        self._check_frames()

    # ------------------------------------------------------------------ opening
    def _open_mn(self) -> None:
        self.format = "mn"
        self.meta = _read_json(self.path / layout.META_JSON)
        if not isinstance(self.meta, dict) or self.meta.get("format") != layout.FORMAT_NAME:
            raise CorruptEpisodeError(f"{self.path / layout.META_JSON} is not an mn episode "
                                      f"meta file (format != {layout.FORMAT_NAME!r})")
        npz = self.path / layout.LOW_DIM_NPZ
        try:
            with np.load(npz, allow_pickle=False) as z:
                self._low = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise CorruptEpisodeError(f"cannot read {npz}: {type(e).__name__}: {e}") from e
        m = self.meta
        self.task = m["task"]
        self.variation = int(_read_json_or_pkl(self.path, layout.VARIATION_NUMBER_JSON,
                                               layout.VARIATION_NUMBER_PKL, m["variation"]))
        self.descriptions = list(_read_json_or_pkl(
            self.path, layout.VARIATION_DESCRIPTIONS_JSON, layout.VARIATION_DESCRIPTIONS_PKL,
            m.get("descriptions", [])))
        self.seed = m.get("seed")
        self.success = bool(m.get("success", True))
        self.frame_rate = m.get("frame_rate")
        self.cameras = list(m.get("cameras", []))
        self.num_frames = int(m["num_frames"])
        self._mask_offset = int(m.get("mask_offset", 0))
        missing = [k for k in ARRAY_FIELDS + SCALAR_FIELDS if k not in self._low]
        missing += [f"{c}_camera_{f}" for c in self.cameras for f in CAMERA_FIELDS
                    if f"{c}_camera_{f}" not in self._low]
        if missing:
            raise CorruptEpisodeError(f"{npz} lacks {missing}")
        bad = {k: v.shape[0] for k, v in self._low.items() if v.shape[:1] != (self.num_frames,)}
        if bad:
            raise CorruptEpisodeError(f"{npz}: arrays {bad} do not have {self.num_frames} "
                                      f"frames as {layout.META_JSON} says")
        self.keyframes = self._read_keyframes(m.get("keyframes"))
        self._misc_json = None
        if MISC_JSON_KEY in self._low:
            self._misc_json = [json.loads(s) for s in self._low[MISC_JSON_KEY].tolist()]

    def _open_peract(self) -> None:
        self.format = "peract"
        # mn's PerAct-format exports keep what RLBench data lacks in mn_meta.json
        meta_path = self.path / layout.MN_META_JSON
        self.meta = _read_json(meta_path) if meta_path.is_file() else {}
        if not isinstance(self.meta, dict):
            raise CorruptEpisodeError(f"{meta_path} must hold a JSON object")
        pkl = self.path / layout.LOW_DIM_PKL
        demo = _read_pickle(pkl)
        if isinstance(demo, RLBenchDemo):
            self._peract_obs = list(demo.observations)
        elif isinstance(demo, list):
            self._peract_obs = demo
        else:
            raise CorruptEpisodeError(f"{pkl} holds a {type(demo).__name__}, not an RLBench Demo")
        # <root>/<task>/all_variations/episodes/episode<N>
        self.task = self.path.parents[2].name
        number = _read_json_or_pkl(self.path, layout.VARIATION_NUMBER_JSON,
                                   layout.VARIATION_NUMBER_PKL)
        if number is None:  # PerAct's per-variation layout: <task>/variation<k>/episodes/...
            vname = self.path.parents[1].name
            number = int(vname[len("variation"):]) if vname.startswith("variation") else 0
        self.variation = int(number)
        self.descriptions = list(_read_json_or_pkl(
            self.path, layout.VARIATION_DESCRIPTIONS_JSON, layout.VARIATION_DESCRIPTIONS_PKL,
            []))
        self.seed = self.meta.get("seed")
        self.success = bool(self.meta.get("success", True))  # RLBench saves successes only
        self.frame_rate = self.meta["frame_rate"] if "frame_rate" in self.meta \
            else RLBENCH_FRAME_RATE
        self.num_frames = len(self._peract_obs)
        self._mask_offset = int(self.meta.get("mask_offset", 0))
        self.cameras = [c for c in layout.KNOWN_CAMERAS
                        if (self.path / f"{c}_rgb").is_dir()
                        and (self.path / f"{c}_depth").is_dir()
                        and all(f"{c}_camera_{f}" in getattr(o, "misc", {})
                                for o in self._peract_obs for f in CAMERA_FIELDS)]
        self.keyframes = self._read_keyframes(None)

    def _read_keyframes(self, fallback) -> list[int]:
        p = self.path / layout.KEYFRAMES_JSON
        if p.is_file():
            kfs = _read_json(p)
        elif fallback is not None:
            kfs = fallback
        else:
            from mn_sim.keyframes import keypoint_discovery
            return keypoint_discovery(self.low_dim_observations(),
                                      method=self.keyframe_method)
        if not isinstance(kfs, list) or any(not (isinstance(k, int) and 0 <= k < self.num_frames)
                                            for k in kfs):
            raise CorruptEpisodeError(f"{p}: keyframes must be frame indices in "
                                      f"[0, {self.num_frames}); got {kfs!r}")
        return kfs

    def _check_frames(self) -> None:
        """Every camera folder holds 0.png .. (n-1).png (one directory listing per folder)."""
        if self.num_frames == 0:
            raise CorruptEpisodeError(f"{self.path} has no frames")
        want = {layout.IMAGE_FORMAT.format(i) for i in range(self.num_frames)}
        kinds = ["rgb", "depth"] + (["mask"] if self.has_masks else [])
        for cam in self.cameras:
            for kind in kinds:
                folder = self.path / f"{cam}_{kind}"
                try:
                    have = set(os.listdir(folder))
                except OSError as e:
                    raise CorruptEpisodeError(f"missing image folder {folder}: {e}") from e
                lacking = want - have
                if lacking:
                    first = min(lacking, key=lambda s: int(s.split(".")[0]))
                    raise CorruptEpisodeError(f"missing frames in {folder}: {len(lacking)} of "
                                              f"{self.num_frames}, e.g. {folder / first}")

    # ------------------------------------------------------------------ info
    @property
    def has_masks(self) -> bool:
        if self.format == "mn":
            return bool(self.meta.get("masks"))
        return bool(self.cameras) and all((self.path / f"{c}_mask").is_dir() for c in self.cameras)

    @property
    def mask_offset(self) -> int:
        """What the mask PNGs hold minus the handles: 0 (RLBench, mn since masks hold body
        handles); 1 in mn episodes written earlier (geom id + 1)."""
        return self._mask_offset

    @property
    def mask_labels(self) -> dict[int, str]:
        """Mask handle -> object name, as recorded by mn (mn_sim: body names; 0 "background");
        {} when unknown (RLBench data: CoppeliaSim handles, names not saved)."""
        labels = self.meta.get("mask_labels") or {}
        return {int(k): str(v) for k, v in labels.items()} if self.has_masks else {}

    @property
    def video_path(self) -> Path | None:
        for cam in layout.VIDEO_CAMERAS:
            p = self.path / layout.video_file(cam)
            if p.is_file():
                return p
        return None

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (f"Episode({self.task!r}, variation={self.variation}, frames={self.num_frames}, "
                f"keyframes={self.keyframes}, format={self.format!r}, path={str(self.path)!r})")

    # ------------------------------------------------------------------ images (lazy)
    def _png(self, cam: str, kind: str, i: int, mode: str | None) -> np.ndarray:
        if cam not in self.available_cameras:
            raise KeyError(f"camera {cam!r} not in this episode; it has {self.available_cameras}")
        if not 0 <= i < self.num_frames:
            raise IndexError(f"frame {i} out of range [0, {self.num_frames})")
        p = layout.image_path(self.path, cam, kind, i)
        try:
            return read_png(p, mode)
        except (CorruptFileError, OSError) as e:
            raise CorruptEpisodeError(str(e) if isinstance(e, CorruptFileError)
                                      else f"cannot read {p}: {e}") from e

    @property
    def video_camera(self) -> str:
        """The camera the observer watches: the observer camera where it was recorded (mn_sim),
        else the front camera (RLBench/PerAct data, as in the paper)."""
        return layout.video_camera(self.available_cameras) or "front"

    def rgb(self, cam: str, i: int) -> np.ndarray:
        """(H, W, 3) uint8."""
        return self._png(cam, "rgb", i, "RGB")

    def depth(self, cam: str, i: int) -> np.ndarray:
        """(H, W) float32 metres."""
        near, far = self._camera_param(cam, "near", i), self._camera_param(cam, "far", i)
        return rgb_to_depth(self._png(cam, "depth", i, "RGB"), float(near), float(far))

    def mask(self, cam: str, i: int) -> np.ndarray | None:
        """(H, W) int32 handles (0 = background; see ``mask_labels``), or None when the
        episode has no masks."""
        if not self.has_masks:
            return None
        return rgb_to_mask(self._png(cam, "mask", i, None), offset=self._mask_offset)

    def camera(self, cam: str, i: int, mask: bool = True) -> CameraObs:
        """Frame i of camera ``cam``: rgb, depth in metres, parameters, mask (if saved)."""
        return CameraObs(
            rgb=self.rgb(cam, i), depth=self.depth(cam, i),
            intrinsics=np.asarray(self._camera_param(cam, "intrinsics", i), np.float64),
            extrinsics=np.asarray(self._camera_param(cam, "extrinsics", i), np.float64),
            near=float(self._camera_param(cam, "near", i)),
            far=float(self._camera_param(cam, "far", i)),
            mask=self.mask(cam, i) if mask else None)

    # ------------------------------------------------------------------ low-dim state
    def _camera_param(self, cam: str, field: str, i: int):
        key = f"{cam}_camera_{field}"
        if self.format == "mn":
            return self._low[key][i]
        misc = self._peract_obs[i].misc
        if field in ("intrinsics", "extrinsics"):   # PyRep's convention -> OpenCV's
            K, T = _opencv(misc, cam, self.path)
            return K if field == "intrinsics" else T
        return misc[key]

    def observation(self, i: int, images: bool = True, cameras: Sequence[str] | None = None
                    ) -> Observation:
        """Frame i as an Observation; ``images=False`` skips all image files (cameras={})."""
        if not -self.num_frames <= i < self.num_frames:
            raise IndexError(f"frame {i} out of range [0, {self.num_frames})")
        i %= self.num_frames
        if self.format == "mn":
            obs = self._mn_observation(i)
        else:
            obs = self._peract_observation(i)
        if images:
            obs.cameras = {c: self.camera(c, i) for c in (cameras or self.cameras)}
        return obs

    def _mn_observation(self, i: int) -> Observation:
        low = self._low
        misc = {}
        for k, v in low.items():
            if k.startswith(MISC_PREFIX):
                x = v[i]
                misc[k[len(MISC_PREFIX):]] = x.item() if x.ndim == 0 else x.copy()
        if self._misc_json is not None:
            misc.update(self._misc_json[i])
        for c in self.cameras:
            for f in CAMERA_FIELDS:
                x = low[f"{c}_camera_{f}"][i]
                misc[f"{c}_camera_{f}"] = x.item() if x.ndim == 0 else x.copy()
        return Observation(
            **{k: low[k][i].copy() for k in ARRAY_FIELDS},
            gripper_open=float(low["gripper_open"][i]),
            ignore_collisions=float(low["ignore_collisions"][i]),
            cameras={}, misc=misc)

    def _peract_observation(self, i: int) -> Observation:
        o = self._peract_obs[i].__dict__
        pose = _as_array(o.get("gripper_pose"))
        matrix = o.get("gripper_matrix")
        if matrix is None and pose.shape == (7,):
            matrix = np.eye(4)
            matrix[:3, :3] = quat_to_mat(pose[3:])
            matrix[:3, 3] = pose[:3]
        ign = o.get("ignore_collisions")
        return Observation(
            joint_positions=_as_array(o.get("joint_positions")),
            joint_velocities=_as_array(o.get("joint_velocities")),
            joint_forces=_as_array(o.get("joint_forces")),
            gripper_open=float(o.get("gripper_open") if o.get("gripper_open") is not None
                               else np.nan),
            gripper_pose=pose, gripper_matrix=_as_array(matrix),
            gripper_joint_positions=_as_array(o.get("gripper_joint_positions")),
            task_low_dim_state=_as_array(o.get("task_low_dim_state")),
            ignore_collisions=1.0 if ign is None else float(np.asarray(ign).reshape(-1)[0]),
            cameras={}, misc=_opencv_misc(o.get("misc") or {}, self.path))

    def __getitem__(self, i: int) -> Observation:
        return self.observation(i)

    def __iter__(self) -> Iterator[Observation]:
        return (self.observation(i) for i in range(self.num_frames))

    def low_dim_observations(self) -> list[Observation]:
        """All frames without images (fast; what keyframe discovery needs)."""
        return [self.observation(i, images=False) for i in range(self.num_frames)]

    def to_demo(self, images: bool = True) -> Demo:
        """Everything as an mn_sim.types.Demo (loads every image when ``images``)."""
        return Demo(task=self.task, variation=self.variation, descriptions=self.descriptions,
                    seed=-1 if self.seed is None else int(self.seed),
                    observations=[self.observation(i, images) for i in range(self.num_frames)],
                    success=self.success,
                    failure_reason=self.meta.get("failure_reason", ""),
                    action_frames=list(self.meta.get("action_frames", [])),
                    frame_rate=self.frame_rate, mask_labels=self.mask_labels)

    def verify_images(self) -> None:
        """Decode every image; raises CorruptEpisodeError naming the first bad file."""
        kinds = ["rgb", "depth"] + (["mask"] if self.has_masks else [])
        for cam in self.cameras:
            for kind in kinds:
                for i in range(self.num_frames):
                    self._png(cam, kind, i, None)


def _opencv(misc: dict, cam: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        return opencv_from_pyrep(misc[f"{cam}_camera_intrinsics"],
                                 misc[f"{cam}_camera_extrinsics"])
    except ValueError as e:
        raise CorruptEpisodeError(f"{path / layout.LOW_DIM_PKL}: camera {cam!r}: {e}") from e


def _opencv_misc(misc: dict, path: Path) -> dict:
    """A PerAct ``misc`` dict with every camera's matrices in OpenCV's convention."""
    out = dict(misc)
    suffix = "_camera_intrinsics"
    for key in misc:
        if key.endswith(suffix) and f"{key[:-len(suffix)]}_camera_extrinsics" in misc:
            cam = key[:-len(suffix)]
            out[key], out[f"{cam}_camera_extrinsics"] = _opencv(misc, cam, path)
    return out


def load_episode(path: str | os.PathLike, cameras: Sequence[str] | None = None,
                 verify_images: bool = False, keyframe_method: str = "peract") -> Episode:
    """Open one episode folder (mn or PerAct format). Images are read lazily.

    keyframe_method: keyframes of an episode without kfs.json (mn_sim.keyframes methods:
    "peract", what PerAct and ARP compute, or "mn").

    Raises CorruptEpisodeError (naming the file) for an incomplete or unreadable episode, and
    pickle.UnpicklingError for a PerAct pickle that names a disallowed global.
    """
    ep = Episode(path, cameras=cameras, keyframe_method=keyframe_method)
    if verify_images:
        ep.verify_images()
    return ep


@dataclass(frozen=True)
class EpisodeRef:
    task: str
    index: int
    path: Path


class DemoDataset:
    """Episodes of many tasks under ``root`` (``<root>/<task>/all_variations/episodes/episode*``).

    ``ds[i]`` opens episode i (an :class:`Episode`, images lazy). Corrupt episodes (unreadable
    meta/npz/pickle, missing frames, and with ``verify_images`` undecodable PNGs) are skipped
    with a warning naming the file, or raise CorruptEpisodeError when ``strict``. Unfinished
    (tmp) folders are never listed.

    Args:
        root: dataset root.
        tasks: task names to index (default: every folder under root with episodes).
        cameras: cameras every episode must have (default: whatever each one has).
        strict: raise on the first corrupt episode instead of skipping it.
        verify_images: decode every PNG while indexing (slow; catches truncated files).
        cache_size: opened episodes (low-dim state only) kept in memory.
    """

    def __init__(self, root: str | os.PathLike, tasks: Sequence[str] | None = None,
                 cameras: Sequence[str] | None = None, strict: bool = False,
                 verify_images: bool = False, cache_size: int = 64):
        self.root = Path(root)
        self.cache_size = cache_size
        self._cache: dict[Path, Episode] = {}
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset root {self.root} does not exist")
        self.cameras = list(cameras) if cameras is not None else None
        self.strict = strict
        if tasks is None:
            tasks = sorted(p.name for p in self.root.iterdir()
                           if layout.episodes_dir(self.root, p.name).is_dir())
        else:
            absent = [t for t in tasks if not layout.episodes_dir(self.root, t).is_dir()]
            if absent:
                raise FileNotFoundError(
                    f"no episodes of task(s) {absent} under {self.root} (expected "
                    f"{layout.episodes_dir(self.root, absent[0])})")
        self.tasks = list(tasks)
        self.skipped: list[tuple[Path, str]] = []
        self.episodes: list[EpisodeRef] = []
        for task in self.tasks:
            for path in layout.list_episode_dirs(layout.episodes_dir(self.root, task)):
                try:
                    load_episode(path, cameras=self.cameras, verify_images=verify_images)
                except (CorruptEpisodeError, pickle.UnpicklingError) as e:
                    if strict:
                        raise
                    self.skipped.append((path, str(e)))
                    warnings.warn(f"skipping corrupt episode {path}: {e}", stacklevel=2)
                    continue
                self.episodes.append(EpisodeRef(task, layout.episode_index(path.name), path))

    def __len__(self) -> int:
        return len(self.episodes)

    def __getitem__(self, i: int) -> Episode:
        ref = self.episodes[i]
        ep = self._cache.pop(ref.path, None)
        if ep is None:
            ep = load_episode(ref.path, cameras=self.cameras)
        self._cache[ref.path] = ep  # most recently used last
        while len(self._cache) > self.cache_size:
            self._cache.pop(next(iter(self._cache)))
        return ep

    def __iter__(self) -> Iterator[Episode]:
        return (self[i] for i in range(len(self)))

    def episodes_of(self, task: str) -> list[EpisodeRef]:
        return [e for e in self.episodes if e.task == task]
