"""Keyframe-to-keyframe training samples and policy batches from mn_sim observations.

ARP/PerAct train on (observation, next keyframe) pairs: for the j-th keyframe k_j of an
episode the input is the observation at the previous keyframe k_{j-1} (frame 0 for the
first keyframe) and the target is the gripper pose / gripper_open / ignore_collisions
recorded at k_j. ``mode="all"`` also adds every frame in between (i in [k_{j-1}, k_j)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from mn_models.policy import constants as K
from mn_sim.types import CAMERAS, Observation


@dataclass
class KeyframeSample:
    observation: Observation   # what the policy sees
    action: np.ndarray         # (9,) target [xyz, quat xyzw, gripper_open, ignore_collisions]
    instruction: str
    frame: int                 # index of ``observation`` in the episode
    keyframe: int              # index of the target keyframe


def target_action(obs: Observation) -> np.ndarray:
    """The 9-vector an observation at a keyframe defines as the action reaching it."""
    return np.concatenate([np.asarray(obs.gripper_pose, dtype=np.float64).reshape(7),
                           [float(obs.gripper_open), float(obs.ignore_collisions)]])


def proprio_of(obs: Observation) -> np.ndarray:
    """[gripper_open, finger joint 1, finger joint 2] (ARP's proprio; no time step)."""
    return np.concatenate([[float(obs.gripper_open)],
                           np.asarray(obs.gripper_joint_positions, dtype=np.float64).reshape(2)])


def keyframe_samples(observations: Sequence[Observation], instruction: str,
                     keyframes: Sequence[int] | None = None, mode: str = "k2k"
                     ) -> list[KeyframeSample]:
    """Training samples of one episode.

    keyframes: indices into ``observations`` (default: mn_sim.keyframes.keypoint_discovery).
    mode: "k2k" (one sample per keyframe, from the previous keyframe) or "all" (every frame
    from the previous keyframe up to, not including, the keyframe).
    """
    if mode not in ("k2k", "all"):
        raise ValueError(f"mode must be 'k2k' or 'all'; got {mode!r}")
    n = len(observations)
    if n == 0:
        raise ValueError("an episode needs at least one observation")
    if keyframes is None:
        try:
            from mn_sim.keyframes import keypoint_discovery
        except ImportError as e:
            raise ImportError("mn_sim.keyframes.keypoint_discovery is unavailable; pass "
                              "keyframes= explicitly") from e
        keyframes = keypoint_discovery(list(observations))
    keyframes = [int(k) for k in keyframes]
    if any(k <= 0 or k >= n for k in keyframes) or any(
            b <= a for a, b in zip(keyframes, keyframes[1:])):
        raise ValueError(f"keyframes must be strictly increasing indices in [1, {n - 1}]; got "
                         f"{keyframes}")
    out = []
    prev = 0
    for k in keyframes:
        frames = [prev] if mode == "k2k" else range(prev, k)
        act = target_action(observations[k])
        out += [KeyframeSample(observations[i], act.copy(), instruction, i, k) for i in frames]
        prev = k
    return out


def _token_tensor(tokens, B: int, pad_token_id: int) -> torch.Tensor:
    ragged = isinstance(tokens, (list, tuple)) and len(tokens) > 0 and isinstance(
        tokens[0], (list, tuple, np.ndarray))
    if ragged:
        L = max(len(t) for t in tokens)
        arr = np.full((len(tokens), L), pad_token_id, dtype=np.int64)
        for i, t in enumerate(tokens):
            arr[i, :len(t)] = np.asarray(t, dtype=np.int64)
        t = torch.from_numpy(arr)
    else:
        t = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    if t.dim() == 1:
        t = t[None].expand(B, -1).clone()
    if t.dim() != 2 or t.shape[0] != B:
        raise ValueError(f"tokens must be (L,) shared or ({B}, L); got {tuple(t.shape)}")
    return t


def camera_batch(observations: Sequence[Observation], cameras: Sequence[str] = CAMERAS
                 ) -> dict:
    """The camera keys (rgb, depth, intrinsics, extrinsics per camera) of a policy batch."""
    batch: dict = {}
    for cam in cameras:
        missing = [i for i, o in enumerate(observations) if cam not in o.cameras]
        if missing:
            raise KeyError(f"observation(s) {missing} lack camera {cam!r} (have "
                           f"{sorted(observations[missing[0]].cameras)}); record it or pass "
                           f"cameras=")
        cams = [o.cameras[cam] for o in observations]
        rgb_k, depth_k, intr_k, extr_k = K.camera_keys(cam)
        batch[rgb_k] = torch.from_numpy(np.stack([np.asarray(c.rgb) for c in cams]))
        batch[depth_k] = torch.from_numpy(np.stack([np.asarray(c.depth, np.float32)
                                                    for c in cams]))
        batch[intr_k] = torch.from_numpy(np.stack([np.asarray(c.intrinsics, np.float32)
                                                   for c in cams]))
        batch[extr_k] = torch.from_numpy(np.stack([np.asarray(c.extrinsics, np.float32)
                                                   for c in cams]))
    return batch


def batch_from_observations(observations: Sequence[Observation], tokens,
                            cameras: Sequence[str] = CAMERAS, lang_mask=None, actions=None,
                            pad_token_id: int = 0) -> dict:
    """Stack observations into a policy batch (keys in mn_models.policy.constants).

    tokens: CLIP BPE ids, (L,) shared by all, (B, L), or a list of id lists (padded with
    ``pad_token_id``). lang_mask: optional (B, L) bool (default tokens != pad_token_id).
    actions: optional (B, 9) targets.
    """
    B = len(observations)
    if B == 0:
        raise ValueError("batch_from_observations needs at least one observation")
    batch = camera_batch(observations, cameras)
    batch[K.PROPRIO] = torch.from_numpy(np.stack([proprio_of(o) for o in observations])).float()
    batch[K.GRIPPER_POSE] = torch.from_numpy(
        np.stack([np.asarray(o.gripper_pose, np.float64).reshape(7) for o in observations])
    ).float()
    batch[K.LANG_TOKENS] = _token_tensor(tokens, B, pad_token_id)
    if lang_mask is not None:
        m = torch.as_tensor(np.asarray(lang_mask)).bool()
        if m.shape != batch[K.LANG_TOKENS].shape:
            raise ValueError(f"lang_mask {tuple(m.shape)} must match tokens "
                             f"{tuple(batch[K.LANG_TOKENS].shape)}")
        batch[K.LANG_MASK] = m
    else:
        batch[K.LANG_MASK] = batch[K.LANG_TOKENS] != pad_token_id
    if actions is not None:
        a = torch.as_tensor(np.asarray(actions, dtype=np.float32))
        if a.shape != (B, 9):
            raise ValueError(f"actions must be ({B}, 9); got {tuple(a.shape)}")
        batch[K.ACTION] = a
    return batch


def batch_from_samples(samples: Sequence[KeyframeSample],
                       tokens: Callable[[list[str]], object] | object,
                       cameras: Sequence[str] = CAMERAS, pad_token_id: int = 0) -> dict:
    """Training batch of keyframe samples. tokens: (B, L) ids, or a tokenizer called with
    the list of instructions that returns them."""
    if callable(tokens):
        tokens = tokens([s.instruction for s in samples])
    return batch_from_observations([s.observation for s in samples], tokens, cameras,
                                   actions=np.stack([s.action for s in samples]),
                                   pad_token_id=pad_token_id)


__all__ = ["KeyframeSample", "target_action", "proprio_of", "keyframe_samples", "camera_batch",
           "batch_from_observations", "batch_from_samples"]
