"""Names and paths of the RLBench/PerAct dataset layout.

    <root>/<task>/all_variations/episodes/episode<N>/
        {cam}_rgb/<i>.png  {cam}_depth/<i>.png  [{cam}_mask/<i>.png: RGB-coded object handles]
        low_dim_obs.npz            (mn; PerAct: low_dim_obs.pkl)
        variation_descriptions.json, variation_number.json   (PerAct: .pkl)
        kfs.json                   keyframe indices (ARP's name)
        observer.mp4               observer camera video
        episode.json               meta data; written last: the completion marker
        mn_meta.json               (PerAct-format exports of mn data) what RLBench lacks:
                                   seed, frame rate, expert waypoints, mask handle names

An mn episode is complete when ``episode.json`` exists; a PerAct episode (no episode.json)
when ``low_dim_obs.pkl`` exists (RLBench writes it after the images). Folders named
``episode<N>.tmp-<pid>`` are unfinished writes and never episodes.
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

VARIATIONS_ALL_FOLDER = "all_variations"
EPISODES_FOLDER = "episodes"
EPISODE_FOLDER = "episode{}"
TMP_SUFFIX = ".tmp-"            # episode<N>.tmp-<pid>
IMAGE_FORMAT = "{}.png"

LOW_DIM_NPZ = "low_dim_obs.npz"
LOW_DIM_PKL = "low_dim_obs.pkl"
VARIATION_DESCRIPTIONS_JSON = "variation_descriptions.json"
VARIATION_DESCRIPTIONS_PKL = "variation_descriptions.pkl"
VARIATION_NUMBER_JSON = "variation_number.json"
VARIATION_NUMBER_PKL = "variation_number.pkl"
KEYFRAMES_JSON = "kfs.json"
VIDEO_CAMERA = "observer"           # mn_sim.types.OBSERVER_CAMERA
# the camera of an episode's video (and of the observer's clips): the observer camera where it
# was recorded, else the front camera (RLBench/PerAct data; the paper's observer watched it)
VIDEO_CAMERAS = (VIDEO_CAMERA, "front")


def video_camera(cameras) -> str | None:
    return next((c for c in VIDEO_CAMERAS if c in cameras), None)


def video_file(camera: str) -> str:
    return f"{camera}.mp4"
META_JSON = "episode.json"
MN_META_JSON = "mn_meta.json"   # beside a PerAct-format episode written by mn (export)

FORMAT_NAME = "mn-rlbench"
FORMAT_VERSION = 1

# Cameras RLBench can save (PerAct uses the first four plus overhead).
KNOWN_CAMERAS = ("front", "left_shoulder", "right_shoulder", "wrist", "overhead", "observer")

_EPISODE_RE = re.compile(r"^episode(\d+)$")
_TMP_RE = re.compile(r"^episode(\d+)\.tmp-(\d+)$")


def episodes_dir(root: str | Path, task: str) -> Path:
    """``<root>/<task>/all_variations/episodes``."""
    return Path(root) / task / VARIATIONS_ALL_FOLDER / EPISODES_FOLDER


def episode_dir(root: str | Path, task: str, index: int) -> Path:
    return episodes_dir(root, task) / EPISODE_FOLDER.format(index)


def image_path(episode: str | Path, camera: str, kind: str, frame: int) -> Path:
    """``episode/{camera}_{kind}/{frame}.png`` with kind in rgb, depth, mask."""
    return Path(episode) / f"{camera}_{kind}" / IMAGE_FORMAT.format(frame)


def episode_index(name: str) -> int | None:
    """N for a folder named ``episode<N>``; None for anything else (tmp folders included)."""
    m = _EPISODE_RE.match(name)
    return int(m.group(1)) if m else None


def tmp_episode_info(name: str) -> tuple[int, int] | None:
    """(N, pid) for a folder named ``episode<N>.tmp-<pid>``, else None."""
    m = _TMP_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def is_complete(path: str | Path) -> bool:
    """True if ``path`` is a finished episode folder (mn or PerAct), never for tmp folders."""
    path = Path(path)
    if episode_index(path.name) is None or not path.is_dir():
        return False
    if (path / META_JSON).is_file():
        return True
    return (path / LOW_DIM_PKL).is_file() and not (path / LOW_DIM_NPZ).exists()


def list_episode_dirs(episodes: str | Path) -> list[Path]:
    """Complete episode folders under an ``episodes`` folder, sorted by N."""
    episodes = Path(episodes)
    if not episodes.is_dir():
        return []
    found = []
    for p in episodes.iterdir():
        n = episode_index(p.name)
        if n is not None and is_complete(p):
            found.append((n, p))
    return [p for _, p in sorted(found)]


def new_episode_path(episodes: str | Path, index: int, overwrite: bool = False) -> Path:
    """``<episodes>/episode<index>``; FileExistsError if it exists and not ``overwrite``."""
    final = Path(episodes) / EPISODE_FOLDER.format(int(index))
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True to replace it")
    return final


@contextmanager
def writing_episode(final: str | Path, cameras: Iterable[str],
                    kinds: Iterable[str]) -> Iterator[Path]:
    """Yield a fresh ``episode<N>.tmp-<pid>`` folder beside ``final`` with one
    ``{cam}_{kind}`` folder per camera and kind; when the block ends normally the tmp folder
    replaces ``final`` (one rename), when it raises (or is interrupted) it is removed. The
    caller writes its completion marker last inside the block."""
    final = Path(final)
    tmp = final.parent / f"{final.name}{TMP_SUFFIX}{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        kinds = tuple(kinds)
        for cam in cameras:
            for kind in kinds:
                (tmp / f"{cam}_{kind}").mkdir()
        yield tmp
        if final.exists():   # overwrite
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
