"""Training data for the recognizer (clips + instruction), the policy (keyframe samples) and
their alignment (both, from the same episode), built from `mn collect` / PerAct datasets.

Everything a run needs is loaded once (front-camera clips downsized to the recognizer's input,
observations at the keyframe-sample frames); sampling is seeded. Clips, and the policy's
rendered views when it neither augments nor zooms, come from the dataset's on-disk cache
(data_cache.py): built on first use, memory-mapped afterwards, rebuilt when an episode or the
settings change.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mn_models.data_cache import EpisodeCache
from mn_sim.progress import Progress
from mn_models.policy.samples import KeyframeSample, keyframe_samples

log = logging.getLogger(__name__)
VIDEO_CAMERAS = "observer, else front"   # Episode.video_camera: what the observer watches


@dataclass
class EpisodeRecord:
    task: str
    variation: int
    instruction: str          # canonical description (descriptions[0])
    episode_id: int           # global index in this dataset
    task_id: int
    instruction_id: int
    frames: np.ndarray        # (F, S, S, 3) uint8 front-camera frames, downsized
    samples: list[KeyframeSample] = field(default_factory=list)
    views: np.ndarray | None = None   # (n_samples, V, 7, S, S) pre-rendered, memory-mapped
    path: str = ""
    success: bool = True


# The held-out split is a property of the dataset, not of a training run: a stable hash of the
# task and the episode folder's name, the same for every seed, model and run (checkpoints
# store it; evaluations and probes refuse checkpoints whose splits differ).
SPLIT_RULE = "crc32('<task>:<episode folder>') / 0xFFFFFFFF < val_fraction"


def split_of(task: str, path: str, val_fraction: float) -> str:
    """"train" or "val" (SPLIT_RULE)."""
    h = zlib.crc32(f"{task}:{path.rsplit('/', 1)[-1]}".encode()) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def split_identity(val_fraction: float) -> dict:
    """What a checkpoint records about the split its run trained on (meta["split"])."""
    return {"rule": SPLIT_RULE, "val_fraction": float(val_fraction)}


def _resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()          # (F, 3, H, W)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()  # (F, S, S, 3)


def sample_clip_indices(n: int, num_frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """ViCLIP/TSN sampling: split [0, n) into num_frames segments, one frame from each
    (random in training, the middle when rng is None)."""
    edges = np.linspace(0, n, num_frames + 1)
    if rng is None:
        idx = (edges[:-1] + edges[1:]) / 2
    else:
        idx = edges[:-1] + rng.random(num_frames) * (edges[1:] - edges[:-1])
    return np.clip(idx.astype(int), 0, n - 1)


class MirrorData:
    """Episodes of a dataset root, split into train/val by a stable hash of their folder
    (SPLIT_RULE: the same split for every training seed).

    Args:
        root: dataset root (`<root>/<task>/all_variations/episodes/episode<N>`).
        tasks: task names to use (default: all found).
        split: "train", "val" or "all".
        val_fraction: fraction of each task's episodes held out (by hash, stable).
        clip_size: recognizer input size the video frames are downsized to.
        cameras: cameras the policy needs.
        instructions: the instruction vocabulary (ids index this list); default: the canonical
            instructions found in the data, sorted. Pass the same list to every split.
        tasks_vocab: task vocabulary (ids index this list); default: the tasks found, sorted.
        need_samples: load keyframe samples (policy); False loads only clips.
        need_clips: load the video camera's clips (observer, else front; recognizer).
        policy_views: a PolicyConfig whose stage-1 views of every sample are rendered once
            and read back instead of the cameras (``ee_batch`` then carries K.VIEWS and no
            camera keys). Only for policies that neither augment nor zoom in training.
        cache: keep clips and views in the dataset's on-disk cache (data_cache.py) so that
            later runs memory-map them instead of decoding PNGs and rendering again.
        episodes_per_task: use only the first K episodes of each task in this split, in
            collection order (0 = all); a curve over data size.
    """

    def __init__(self, root, tasks: Sequence[str] | None = None, split: str = "train",
                 val_fraction: float = 0.2, clip_size: int = 64,
                 cameras: Sequence[str] = ("front", "left_shoulder", "right_shoulder", "wrist"),
                 instructions: Sequence[str] | None = None,
                 tasks_vocab: Sequence[str] | None = None, need_samples: bool = True,
                 need_clips: bool = True, episodes_per_task: int = 0,
                 policy_views=None, cache: bool = True):
        from mn_sim.dataset import DemoDataset
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be train, val or all; got {split!r}")
        if policy_views is not None:
            if policy_views.augment or policy_views.coarse_to_fine:
                raise ValueError("policy_views: a policy that augments or zooms (coarse-to-fine) "
                                 "re-renders every step; its views cannot be cached")
            if tuple(policy_views.cameras) != tuple(cameras):
                raise ValueError(f"policy_views cameras {tuple(policy_views.cameras)} differ "
                                 f"from cameras {tuple(cameras)}")
        ds = DemoDataset(root, tasks=tasks, cameras=list(cameras))
        if len(ds) == 0:
            raise FileNotFoundError(f"no complete episodes under {root} (tasks {tasks or 'all'}); "
                                    "collect some with `mn collect`")
        refs = [(i, r) for i, r in enumerate(ds.episodes)
                if split == "all" or split_of(r.task, str(r.path), val_fraction) == split]
        if episodes_per_task:   # the first K of each task (collected round-robin over variations)
            kept, count = [], {}
            for i, r in refs:
                count[r.task] = count.get(r.task, 0) + 1
                if count[r.task] <= episodes_per_task:
                    kept.append((i, r))
            refs = kept
        self.root, self.split, self.cameras = str(root), split, tuple(cameras)
        self.split_identity = split_identity(val_fraction)
        self.held_out = sorted(f"{r.task}/{Path(str(r.path)).name}" for r in ds.episodes
                               if split_of(r.task, str(r.path), val_fraction) == "val")
        episodes = [ds[i] for i, _ in refs]
        found_instr = sorted({e.descriptions[0] for e in ds})
        self.instructions = list(instructions) if instructions is not None else found_instr
        self.tasks = list(tasks_vocab) if tasks_vocab is not None else sorted({r.task for r in ds.episodes})
        unknown = sorted({e.descriptions[0] for e in episodes} - set(self.instructions))
        if unknown:
            raise ValueError(f"instructions {unknown} are not in the given vocabulary")
        self.view_settings = None
        clip_cache = view_cache = None
        if need_clips:
            clip_cache = EpisodeCache(root, "clips", {"size": clip_size, "camera": VIDEO_CAMERAS})
        if need_samples and policy_views is not None:
            from mn_models.policy.arp import view_cache_settings
            self.view_settings = view_cache_settings(policy_views)
            view_cache = EpisodeCache(root, "views", self.view_settings)
        progress = Progress(f"mn cache: {split} split of {root}", len(refs), "episodes")
        self.records: list[EpisodeRecord] = []
        for gid, ((_, ref), ep) in enumerate(zip(refs, episodes)):
            built_before = sum(c.built for c in (clip_cache, view_cache) if c is not None)
            frames = np.zeros((0, clip_size, clip_size, 3), np.uint8)
            if need_clips:
                frames = _cached(cache, clip_cache, ep, _clip_files(ep), None,
                                 lambda: _resize_frames(
                                     np.stack([ep.rgb(ep.video_camera, i) for i in range(len(ep))]),
                                     clip_size))
            rec = EpisodeRecord(task=ep.task, variation=ep.variation, instruction=ep.descriptions[0],
                                episode_id=gid, task_id=self.tasks.index(ep.task),
                                instruction_id=self.instructions.index(ep.descriptions[0]),
                                frames=frames, path=str(ep.path), success=bool(ep.success))
            if need_samples:
                kfs = list(ep.keyframes)
                if view_cache is None:
                    rec.samples = keyframe_samples(_LazyEpisode(ep, self.cameras),
                                                   rec.instruction, keyframes=kfs)
                else:
                    rec.samples = keyframe_samples(ep.low_dim_observations(), rec.instruction,
                                                   keyframes=kfs)
                    at = [smp.frame for smp in rec.samples]
                    rec.views = _cached(cache, view_cache, ep, _view_files(ep, at, self.cameras),
                                        {"frames": at},
                                        lambda: _render_views_of(ep, at, policy_views))
            self.records.append(rec)
            built = sum(c.built for c in (clip_cache, view_cache) if c is not None) > built_before
            progress.update(quiet=not built)   # lines only while something is being built
        self.index = [(r, s) for r in range(len(self.records))
                      for s in range(len(self.records[r].samples))]
        log.info("%s split of %s: %d episodes, %d keyframe samples", split, root,
                 len(self.records), len(self.index))

    def __len__(self) -> int:
        return len(self.records)

    # ---- batches
    def clip(self, rec: EpisodeRecord, num_frames: int, rng: np.random.Generator | None) -> np.ndarray:
        return rec.frames[sample_clip_indices(len(rec.frames), num_frames, rng)]

    def au_batch(self, episode_rows: Sequence[int], num_frames: int,
                 rng: np.random.Generator | None) -> dict:
        recs = [self.records[i] for i in episode_rows]
        return {
            "video": torch.from_numpy(np.stack([self.clip(r, num_frames, rng) for r in recs])),
            "text": [r.instruction for r in recs],
            "instruction_id": torch.tensor([r.instruction_id for r in recs]),
            "task_id": torch.tensor([r.task_id for r in recs]),
            "episode_id": torch.tensor([r.episode_id for r in recs]),
        }

    def ee_batch(self, sample_rows: Sequence[int], tokenizer) -> dict:
        from mn_models.policy import constants as K
        from mn_models.policy.samples import batch_from_samples
        pairs = [self.index[i] for i in sample_rows]
        samples = [self.records[r].samples[s] for r, s in pairs]
        if self.view_settings is None:
            batch = batch_from_samples(samples, tokenizer, cameras=self.cameras)
        else:
            batch = batch_from_samples(samples, tokenizer, cameras=())
            batch[K.VIEWS] = torch.from_numpy(np.stack([self.records[r].views[s]
                                                        for r, s in pairs]))
        recs = [self.records[r] for r, _ in pairs]
        batch["instruction_id"] = torch.tensor([r.instruction_id for r in recs])
        batch["task_id"] = torch.tensor([r.task_id for r in recs])
        batch["episode_id"] = torch.tensor([r.episode_id for r in recs])
        return batch

    def mn_batch(self, sample_rows: Sequence[int], num_frames: int, tokenizer,
                 rng: np.random.Generator | None) -> tuple[dict, dict]:
        """A policy batch and a recognizer batch whose row i come from the same episode."""
        ee = self.ee_batch(sample_rows, tokenizer)
        au = self.au_batch([self.index[i][0] for i in sample_rows], num_frames, rng)
        return au, ee


def _cached(use_disk: bool, cache: EpisodeCache, ep, files, extra, build) -> np.ndarray:
    if not use_disk:
        cache.built += 1
        return build()
    return cache.get(ep.task, Path(ep.path), files, extra, build)


def _clip_files(ep) -> list[Path]:
    from mn_sim.dataset import layout
    return [layout.image_path(ep.path, ep.video_camera, "rgb", i) for i in range(len(ep))]


def _view_files(ep, frames, cameras) -> list[Path]:
    from mn_sim.dataset import layout
    return [layout.image_path(ep.path, c, kind, i) for i in frames for c in cameras
            for kind in ("rgb", "depth")]


def _render_views_of(ep, frames: Sequence[int], pcfg, chunk: int = 16) -> np.ndarray:
    """(n, V, 7, S, S) float32 stage-1 views of ``frames`` of an episode."""
    from types import SimpleNamespace

    from mn_models.policy.arp import stage1_views
    from mn_models.policy.samples import camera_batch
    out = []
    for k in range(0, len(frames), chunk):
        obs = [SimpleNamespace(cameras={c: ep.camera(c, i, mask=False) for c in pcfg.cameras})
               for i in frames[k:k + chunk]]
        out.append(stage1_views(camera_batch(obs, pcfg.cameras), pcfg).numpy())
    return np.concatenate(out).astype(np.float32, copy=False)


class _LazyEpisode:
    """Sequence view of an Episode that loads images only for the frames asked for."""

    def __init__(self, episode, cameras):
        self.ep, self.cameras = episode, list(cameras)
        self.low = episode.low_dim_observations()

    def __len__(self):
        return len(self.ep)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        obs = self.ep.observation(i, images=True, cameras=self.cameras)
        return obs

    def __iter__(self):
        return iter(self.low)
