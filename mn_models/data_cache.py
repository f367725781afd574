"""On-disk cache of the training inputs derived from a dataset's images.

Training re-reads the same episodes every run. Two derived inputs cannot change unless the
episode or the settings change, so they are computed once and memory-mapped afterwards:

- ``views``: the policy's stage-1 virtual views of every keyframe sample
  (``stage1_views``: cameras -> fused, cropped cloud -> orthographic views; (n_samples, V, 7,
  S, S) float32), usable when the policy neither augments nor zooms (both re-render);
- ``clips``: the recognizer's front-camera frames resized to its input ((F, S, S, 3) uint8).

Layout: ``<root>/.mn_cache/<kind>-<settings hash>/<task>/<episode>.<content hash>.npy``
(``MN_CACHE_DIR`` moves the cache elsewhere). The settings hash covers everything that
produces the array (policy cameras, bounds, views, size, splatting, renderer version; clip
size); the content hash covers the bytes of every file the array is made from (the episode's
low-dim file, meta, keyframes and the PNGs of the frames used), so an edited episode gets a
new entry and the old one is removed: the cache is never silently stale. Entries are written
to a temporary file and renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

CACHE_FOLDER = ".mn_cache"
# Bump when the code that computes a kind of entry changes what it computes.
VERSIONS = {"views": 1, "clips": 1}
_EPISODE_FILES = ("episode.json", "low_dim_obs.npz", "low_dim_obs.pkl", "kfs.json",
                  "variation_descriptions.json", "variation_descriptions.pkl",
                  "variation_number.json", "variation_number.pkl")


def settings_key(kind: str, settings: dict) -> str:
    """Folder name of a kind of entry made with ``settings`` (JSON-able)."""
    if kind not in VERSIONS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {sorted(VERSIONS)}")
    blob = json.dumps({"version": VERSIONS[kind], **settings}, sort_keys=True)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def content_hash(episode_path: Path, files: Sequence[Path], extra: object = None) -> str:
    """Hash of the episode's own files plus ``files`` (paths inside the episode) and ``extra``."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    paths = [episode_path / n for n in _EPISODE_FILES] + list(files)
    for p in paths:
        if not p.is_file():
            continue
        h.update(str(p.relative_to(episode_path)).encode() + b"\0")
        with open(p, "rb") as fh:
            h.update(fh.read())
        h.update(b"\0")
    return h.hexdigest()


def cache_root(dataset_root: str | os.PathLike) -> Path:
    env = os.environ.get("MN_CACHE_DIR")
    if env:
        digest = hashlib.sha256(str(Path(dataset_root).resolve()).encode()).hexdigest()[:12]
        return Path(env) / digest
    return Path(dataset_root) / CACHE_FOLDER


class EpisodeCache:
    """Entries of one kind and settings for the episodes of one dataset root.

    ``get(task, episode_path, files, extra, build)`` returns the memory-mapped array, building
    it with ``build()`` first when no entry has this content hash. When the cache folder cannot
    be written, the array is built in memory each time (a warning says so once)."""

    def __init__(self, dataset_root: str | os.PathLike, kind: str, settings: dict):
        self.kind = kind
        self.folder = cache_root(dataset_root) / settings_key(kind, settings)
        self.built = 0               # entries made by this object (read by progress lines)
        self._warned = False

    def _entry_dir(self, task: str) -> Path:
        return self.folder / task

    def get(self, task: str, episode_path: Path, files: Sequence[Path], extra: object,
            build: Callable[[], np.ndarray]) -> np.ndarray:
        digest = content_hash(episode_path, files, extra)
        folder = self._entry_dir(task)
        name = episode_path.name
        path = folder / f"{name}.{digest}.npy"
        if path.is_file():
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
                return arr
            except (OSError, ValueError) as e:          # truncated or foreign: rebuild
                log.warning("rebuilding unreadable cache entry %s (%s)", path, e)
        arr = np.ascontiguousarray(build())
        self.built += 1
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            for old in folder.glob(f"{name}.*.npy"):      # entries of earlier content
                if old != path:
                    old.unlink(missing_ok=True)
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except OSError as e:
            if not self._warned:
                log.warning("cannot write the %s cache under %s (%s): building in memory; set "
                            "MN_CACHE_DIR to a writable folder", self.kind, self.folder, e)
                self._warned = True
            return arr


__all__ = ["EpisodeCache", "settings_key", "content_hash", "cache_root", "CACHE_FOLDER",
           "VERSIONS"]
