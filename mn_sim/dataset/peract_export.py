"""Write episodes the way RLBench's dataset generator (PerAct's fork) does, without rlbench.

    from mn_sim.dataset.peract_export import write_peract_episode, export_dataset
    write_peract_episode(demo, episodes_dir(root, demo.task), index=0, keyframes=[49, 68, 88])
    export_dataset("runs/data", "runs/data_peract", keyframe_source="heuristic")

One episode folder holds what ``tools/dataset_generator.py::save_demo`` writes, plus ARP's
kfs.json:
    {cam}_rgb/<i>.png, {cam}_depth/<i>.png [, {cam}_mask/<i>.png]  for the five RLBench
        cameras (left_shoulder, right_shoulder, overhead, wrist, front) and any other camera
        the demo has (mn_sim's observer; RLBench's and ARP's loaders ignore other folders)
    low_dim_obs.pkl            an ``rlbench.demo.Demo`` of ``rlbench.backend.observation.
                               Observation`` with the images set to None, as save_demo does
    variation_descriptions.pkl, variation_number.pkl   (a list of str, an int)
    kfs.json                   keyframe indices (ARP's TransitionDataset reads them)
    mn_meta.json               what RLBench data lacks (seed, frame rate, expert waypoints, mask
                               id offset); only mn's reader looks at it
low_dim_obs.pkl is written last and the folder is renamed from ``episode<N>.tmp-<pid>`` only
when complete, so readers never see half an episode.

The pickle names the upstream classes (``rlbench.demo.Demo``, ``rlbench.backend.observation.
Observation``) and numpy's reconstruction functions by their numpy-1 names
(``numpy.core.multiarray``, as PerAct's released files do), so plain ``pickle.load`` reads it
where rlbench is installed, under numpy 1.x and 2.x. rlbench is never imported here: a pickler
writes those global names for local stand-in classes.

Camera matrices in ``misc`` follow PyRep (negative focal lengths, sensor x left / y up), as
RLBench's; mn's reader converts them back to OpenCV's (mn_sim/dataset/camera_convention.py).
Depth PNGs use RLBench's 24-bit encoding between the camera's near and far (codec.py). Fields
mn_sim does not simulate are None, which RLBench also writes for disabled observations:
``gripper_touch_forces`` and ``Demo.random_seed`` (RLBench's NumPy generator state; mn_sim
scenes are made from ``mn_meta.json``'s seed instead). Mask PNGs hold RGB-coded object
handles as RLBench's do (handle = R + 256 G + 65536 B; mn_sim: MuJoCo body id + 1, 0 =
background, names in mn_meta.json's "mask_labels"); they are written for demos that carry masks
(`mn collect --format peract` renders them; an mn dataset has them when collected with
--masks), never made up. lang_emb.pkl (ARP's CLIP token embeddings) is never written here: it
needs CLIP's weights (README, "Training ARP / PerAct / RVT-2 on mn_sim data").
"""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from mn_sim.dataset import layout
from mn_sim.dataset.camera_convention import opencv_from_pyrep, pyrep_from_opencv
from mn_sim.dataset.codec import depth_to_rgb, mask_to_rgb, write_png
from mn_sim.dataset.writer import mask_labels_json
from mn_sim.types import Demo as MnDemo

# RLBench's five cameras, in the order of rlbench.backend.const / save_demo
PERACT_CAMERAS = ("left_shoulder", "right_shoulder", "overhead", "wrist", "front")
IMAGE_KINDS = ("rgb", "depth", "mask", "point_cloud")
PICKLE_PROTOCOL = 4        # pickle.dump's default on the Python versions PerAct/ARP use
MASK_OFFSET = 0            # mask PNGs hold the handles themselves, as RLBench's
META_FORMAT = "mn-peract-export"
META_VERSION = 1
FORMATS = ("mn", "peract")  # what `mn collect --format` / `mn export --format` write


# ---------------------------------------------------------------------- upstream classes
class Observation:
    """Stand-in written as ``rlbench.backend.observation.Observation``: the same attributes."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class Demo:
    """Stand-in written as ``rlbench.demo.Demo``: ``_observations``, ``random_seed``,
    ``variation_number`` as RLBench's Demo.__init__ sets them."""

    def __init__(self, observations, random_seed=None, variation_number: int = 0):
        self._observations = observations
        self.random_seed = random_seed
        self.variation_number = variation_number


UPSTREAM_NAMES = {Observation: ("rlbench.backend.observation", "Observation"),
                  Demo: ("rlbench.demo", "Demo")}
# numpy 2 names its reconstruction functions numpy._core.*; numpy 1 only knows numpy.core.*,
# which numpy 2 still resolves: write the numpy-1 names so both can read the file
_NUMPY2_PREFIX, _NUMPY1_PREFIX = "numpy._core", "numpy.core"


class _UpstreamPickler(pickle._Pickler):
    """Pickler that writes the stand-ins' globals under RLBench's module paths (the C pickler
    would import those modules to check the names) and numpy's under their numpy-1 names."""

    def save_global(self, obj, name=None):
        target = UPSTREAM_NAMES.get(obj) if isinstance(obj, type) else None
        if target is None:
            module = getattr(obj, "__module__", None) or ""
            if not (module == _NUMPY2_PREFIX or module.startswith(_NUMPY2_PREFIX + ".")):
                return super().save_global(obj, name)
            target = (_NUMPY1_PREFIX + module[len(_NUMPY2_PREFIX):],
                      name or getattr(obj, "__qualname__", obj.__name__))
        module, qualname = target
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("utf-8"))
        self.memoize(obj)


def dumps_upstream(obj, protocol: int = PICKLE_PROTOCOL) -> bytes:
    """Pickle ``obj`` (stand-ins, numpy arrays, builtins) with RLBench's and numpy-1's names."""
    buf = io.BytesIO()
    _UpstreamPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


# ---------------------------------------------------------------------- one episode
def _camera_params(obs, cam: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """OpenCV (K, T), near, far of ``cam`` from an mn Observation (its CameraObs, or the
    ``misc`` entries of an observation read without images)."""
    c = obs.cameras.get(cam)
    if c is not None:
        K, T, near, far = c.intrinsics, c.extrinsics, c.near, c.far
    else:
        try:
            K, T, near, far = (obs.misc[f"{cam}_camera_{f}"]
                               for f in ("intrinsics", "extrinsics", "near", "far"))
        except KeyError:
            raise ValueError(f"observation has no parameters of camera {cam!r}") from None
    K, T = opencv_from_pyrep(K, T)
    return K, T, float(near), float(far)


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def upstream_observation(obs, cameras: Sequence[str]) -> Observation:
    """An mn Observation -> RLBench's Observation as save_demo pickles it (images None)."""
    misc = {k: v for k, v in obs.misc.items() if "_camera_" not in k}
    for cam in cameras:
        K, T, near, far = _camera_params(obs, cam)
        K, T = pyrep_from_opencv(K, T)
        misc.update({f"{cam}_camera_extrinsics": T, f"{cam}_camera_intrinsics": K,
                     f"{cam}_camera_near": near, f"{cam}_camera_far": far})
    images = {f"{c}_{k}": None for c in PERACT_CAMERAS for k in IMAGE_KINDS}

    def arr(v):
        return np.array(v, dtype=np.float64)

    return Observation(
        **images,
        joint_velocities=arr(obs.joint_velocities), joint_positions=arr(obs.joint_positions),
        joint_forces=arr(obs.joint_forces), gripper_open=_scalar(obs.gripper_open),
        gripper_pose=arr(obs.gripper_pose), gripper_matrix=arr(obs.gripper_matrix),
        gripper_joint_positions=arr(obs.gripper_joint_positions),
        gripper_touch_forces=None, task_low_dim_state=arr(obs.task_low_dim_state),
        ignore_collisions=np.array(_scalar(obs.ignore_collisions)), misc=misc)


def check_cameras(cameras: Sequence[str], where: str) -> None:
    """RLBench's get_stored_demos needs the five cameras' rgb and depth folders."""
    missing = [c for c in PERACT_CAMERAS if c not in cameras]
    if missing:
        raise ValueError(
            f"{where} lacks camera(s) {missing}; RLBench's loader needs all of "
            f"{list(PERACT_CAMERAS)}. Collect with `mn collect --format peract` (it renders "
            f"them), or with --cameras front,left_shoulder,right_shoulder,wrist,overhead,"
            f"observer before exporting")


def _dump_pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        f.write(dumps_upstream(obj))


def write_peract_episode(demo: MnDemo, episodes: str | os.PathLike, index: int, *,
                         keyframes: Sequence[int], cameras: Sequence[str] | None = None,
                         masks: bool = True, source=None, keyframe_source: str | None = None,
                         extra_meta: dict | None = None, overwrite: bool = False) -> Path:
    """Write ``demo`` as ``<episodes>/episode<index>`` in RLBench/PerAct's format.

    Args:
        demo: an mn_sim.types.Demo (images in ``obs.cameras``, or taken from ``source``).
        episodes: the ``.../<task>/all_variations/episodes`` folder (created if missing).
        index: N of ``episode<N>``.
        keyframes: frame indices for kfs.json.
        cameras: cameras to write (default: the demo's, or ``source``'s); must include the
            five RLBench cameras.
        masks: write ``{cam}_mask`` when every frame has masks.
        source: an mn_sim.dataset.Episode the demo was read from: its rgb, depth and mask PNGs
            are copied byte for byte (same encodings) instead of decoded and re-encoded.
        keyframe_source: how ``keyframes`` were chosen (recorded in mn_meta.json).
        extra_meta: more JSON-serializable entries for mn_meta.json.
        overwrite: replace an existing episode instead of raising FileExistsError.
    """
    final = layout.new_episode_path(episodes, index, overwrite)
    obs = demo.observations
    n = len(obs)
    if n == 0:
        raise ValueError(f"demo of {demo.task!r} (seed {demo.seed}) has no observations")
    if cameras is None:
        cameras = source.cameras if source is not None else list(obs[0].cameras)
    cams = list(cameras)
    check_cameras(cams, f"demo of {demo.task!r}")
    kfs = [int(k) for k in keyframes]
    if any(not 0 <= k < n for k in kfs):
        raise ValueError(f"keyframes {kfs} out of range for {n} frames")
    if source is not None:
        with_masks = masks and source.has_masks
        mask_offset = source.mask_offset if with_masks else MASK_OFFSET   # kept as stored
    else:
        missing = [(i, c) for i, o in enumerate(obs) for c in cams if c not in o.cameras]
        if missing:
            raise ValueError(f"demo of {demo.task!r}: frame {missing[0][0]} lacks camera "
                             f"{missing[0][1]!r}; it has {sorted(obs[missing[0][0]].cameras)}")
        with_masks = masks and all(o.cameras[c].mask is not None for o in obs for c in cams)
        mask_offset = MASK_OFFSET

    kinds = ("rgb", "depth", "mask") if with_masks else ("rgb", "depth")
    with layout.writing_episode(final, cams, kinds) as tmp:
        for i, o in enumerate(obs):
            for cam in cams:
                _write_images(tmp, i, cam, o, source, with_masks)
        upstream = Demo([upstream_observation(o, cams) for o in obs], random_seed=None,
                        variation_number=int(demo.variation))
        descriptions = [str(d) for d in demo.descriptions]
        with open(tmp / layout.VARIATION_DESCRIPTIONS_PKL, "wb") as f:
            pickle.dump(descriptions, f, protocol=PICKLE_PROTOCOL)
        with open(tmp / layout.VARIATION_NUMBER_PKL, "wb") as f:
            pickle.dump(int(demo.variation), f, protocol=PICKLE_PROTOCOL)
        with open(tmp / layout.KEYFRAMES_JSON, "w") as f:
            json.dump(kfs, f)
        first = source.rgb(cams[0], 0) if source is not None else obs[0].cameras[cams[0]].rgb
        meta = {
            "format": META_FORMAT, "format_version": META_VERSION, "task": demo.task,
            "variation": int(demo.variation), "seed": int(demo.seed),
            "success": bool(demo.success), "failure_reason": demo.failure_reason,
            "frame_rate": None if demo.frame_rate is None else float(demo.frame_rate),
            "keyframe_only": demo.frame_rate is None, "descriptions": descriptions,
            "num_frames": n, "cameras": cams, "image_size": list(np.shape(first)[:2]),
            "masks": with_masks, "mask_offset": mask_offset,
            "mask_labels": mask_labels_json(demo) if with_masks else {},
            "camera_convention": "pyrep",
            "keyframes": kfs, "keyframe_source": keyframe_source,
            "action_frames": [int(k) for k in demo.action_frames],
        }
        if extra_meta:
            meta.update(extra_meta)
        with open(tmp / layout.MN_META_JSON, "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        _dump_pickle(tmp / layout.LOW_DIM_PKL, upstream)   # RLBench's completion marker: last
    return final


def _write_images(tmp: Path, i: int, cam: str, o, source, with_masks: bool) -> None:
    if source is not None:   # same PNG encodings: copy the images as they are
        for kind in ("rgb", "depth", "mask") if with_masks else ("rgb", "depth"):
            shutil.copyfile(layout.image_path(source.path, cam, kind, i),
                            layout.image_path(tmp, cam, kind, i))
        return
    c = o.cameras[cam]
    rgb = np.asarray(c.rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame {i} camera {cam}: rgb must be (H, W, 3) uint8; "
                         f"got {rgb.dtype} {rgb.shape}")
    write_png(layout.image_path(tmp, cam, "rgb", i), rgb)
    write_png(layout.image_path(tmp, cam, "depth", i), depth_to_rgb(c.depth, c.near, c.far))
    if with_masks:
        write_png(layout.image_path(tmp, cam, "mask", i), mask_to_rgb(c.mask, offset=MASK_OFFSET))


# ---------------------------------------------------------------------- a whole dataset
def missing_masks_message(n: int, total: int, src, example) -> str:
    return (f"{n} of {total} episode(s) under {src} have no segmentation masks (e.g. {example}): "
            f"the export has no {{camera}}_mask folders for them (RLBench's loader reads masks "
            f"only with mask=True in its ObservationConfig; ARP's training does not read "
            f"them). mn does not make masks up: to have them, re-collect with `mn collect "
            f"--masks` (format mn) or `mn collect --format peract`")


def _warn(message: str) -> None:
    import warnings
    warnings.warn(message, stacklevel=3)


def export_dataset(src: str | os.PathLike, dst: str | os.PathLike, fmt: str = "peract",
                   keyframe_source: str = "expert", tasks: Sequence[str] | None = None,
                   overwrite: bool = False, progress=None, warn=None) -> list[Path]:
    """Write every complete episode under ``src`` (mn or PerAct layout) into ``dst`` in
    format ``fmt`` ("peract" or "mn"), keeping task names and episode numbers.

    keyframe_source: kfs.json of the output, as for `mn collect`: "expert" (the expert's
    waypoints where the source recorded them, else the heuristic) or "heuristic" (PerAct's
    keypoint discovery, mn_sim.keyframes method "peract"). Raises ValueError before writing
    anything when a source episode lacks one of RLBench's five cameras (fmt "peract").
    Source episodes without segmentation masks are exported without ``{cam}_mask`` folders
    (never with made-up masks) and ``warn(message)`` (default: warnings.warn) says so, naming
    how to get them. Returns the episode folders written.
    """
    from mn_sim.dataset.reader import DemoDataset, load_episode
    from mn_sim.dataset.writer import KEYFRAME_SOURCES, default_keyframes, write_episode

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {fmt!r}")
    if keyframe_source not in KEYFRAME_SOURCES:
        raise ValueError(f"keyframe source must be one of {KEYFRAME_SOURCES}; got "
                         f"{keyframe_source!r}")
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ValueError(f"source and destination are the same folder ({src}); export into "
                         f"another one")
    ds = DemoDataset(src, tasks=tasks, strict=True)
    if len(ds) == 0:
        raise ValueError(f"no complete episodes under {src} (expected "
                         f"<task>/all_variations/episodes/episode<N>)")
    without_masks = []
    for ref in ds.episodes:
        ep = load_episode(ref.path)
        if fmt == "peract":
            check_cameras(ep.cameras, f"episode {ref.path}")
        if not ep.has_masks:
            without_masks.append(ref.path)
    if without_masks and fmt == "peract":
        (warn or _warn)(missing_masks_message(len(without_masks), len(ds.episodes), src,
                                              without_masks[0]))
    if not overwrite:
        for ref in ds.episodes:
            out = layout.episode_dir(dst, ref.task, ref.index)
            if out.exists():
                raise FileExistsError(f"{out} already exists; use --overwrite "
                                      f"(overwrite=True) to replace the episodes in {dst}")
    written = []
    for k, ref in enumerate(ds.episodes):
        ep = load_episode(ref.path)
        out = layout.episodes_dir(dst, ref.task)
        if fmt == "peract":
            demo = ep.to_demo(images=False)
            kfs = default_keyframes(demo, keyframe_source)
            path = write_peract_episode(demo, out, ref.index, keyframes=kfs, source=ep,
                                        keyframe_source=keyframe_source, overwrite=overwrite,
                                        extra_meta={"exported_from": str(ref.path)})
        else:
            demo = ep.to_demo(images=True)
            path = write_episode(demo, out, ref.index, keyframes=default_keyframes(
                demo, keyframe_source), overwrite=overwrite,
                extra_meta={"exported_from": str(ref.path)})
        written.append(path)
        if progress is not None:
            progress(k + 1, len(ds.episodes), path)
    return written
