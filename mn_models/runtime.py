"""What the deployed system computes, without ROS: load a checkpoint, act, recognize.

The policy and observer nodes (mn_ros), `mn bench ros`, and the evaluations that must measure
what those nodes compute (`mn eval ee` rollouts, the success monitor) all run these classes.

    runner = PolicyRunner("runs/mn")                       # ee, mn or probe checkpoint
    action, emb, kind = runner.act(observation, "open the top drawer")   # (9,), (D,), "z_e"|"e"
    rec = RecognizerRunner("runs/mn")                      # au, mn or probe checkpoint
    result = rec.recognize(frames)                         # frames (T, H, W, 3) uint8
    result.instruction                                     # "none" when the rule abstains
    clip = ClipBuffer(gap_s=1.0, max_frames=600)           # clips cut on header stamps
    clip.add(rec.prepare(rgb), stamp_ns)                   # any camera size -> the model's

Both refuse a checkpoint that is missing, truncated or of the wrong kind with
mn_models.checkpoint.CheckpointError.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

POLICY_KINDS = ("ee", "mn", "probe")
RECOGNIZER_KINDS = ("au", "mn", "probe")


def _open(path, need: tuple[str, ...], kinds: tuple[str, ...], what: str):
    """A checkpoint folder, run folder or an opened mn_models.checkpoint.Checkpoint."""
    from mn_models.checkpoint import Checkpoint, CheckpointError, open_checkpoint
    if isinstance(path, Checkpoint):
        ck = open_checkpoint(path.path, need=need)
    elif not str(path).strip():
        raise CheckpointError(f"no checkpoint given: set the 'checkpoint' parameter to a {what} "
                              f"checkpoint or run folder (kind {' or '.join(kinds)})")
    else:
        ck = open_checkpoint(Path(path).expanduser(), need=need)
    if ck.kind not in kinds:
        raise CheckpointError(f"{ck.path} is a {ck.kind!r} checkpoint; the {what} needs kind "
                              f"{' or '.join(kinds)}")
    return ck


def _threads(threads: int | None) -> None:
    import torch
    if threads and threads > 0:
        torch.set_num_threads(threads)


def center_crop_square(rgb: np.ndarray) -> np.ndarray:
    """The centred square of side min(H, W) of an (H, W, C) image (a view): what the
    recognizer sees of a non-square camera (it trained on square frames) before resizing."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return rgb[top:top + s, left:left + s]


class PolicyRunner:
    """The policy (and, when the checkpoint has one, the alignment head T_e) of a checkpoint.

    Args:
        checkpoint: checkpoint folder or run folder (latest checkpoint) of kind ee, mn or probe.
        threads: torch CPU threads (0 = torch's default).
    """

    def __init__(self, checkpoint, threads: int | None = 1):
        from mn_models.checkpoint import build_alignment, build_policy
        from mn_models.eval.common import policy_tokenizer
        _threads(threads)
        self.checkpoint = _open(checkpoint, ("policy",), POLICY_KINDS, "policy")
        meta = self.checkpoint.meta
        self.policy = build_policy(self.checkpoint).eval()
        self.alignment = (build_alignment(self.checkpoint).eval()
                          if "alignment" in meta.get("modules", []) else None)
        self.instructions: list[str] = list(meta.get("instructions", []))
        self.cameras = tuple(self.policy.cfg.cameras)
        self.tokenizer = policy_tokenizer(self.checkpoint)   # the trainer's context length
        self.kind = "z_e" if self.alignment is not None else "e"
        self._tokens: tuple[str, object] | None = None

    def check_instruction(self, instruction: str, allow_unknown: bool = False) -> str:
        """The stripped instruction, or ValueError if empty / not in the vocabulary."""
        text = (instruction or "").strip()
        if not text:
            raise ValueError("the instruction is empty")
        if not allow_unknown and self.instructions and text not in self.instructions:
            raise ValueError(f"instruction {text!r} is not in the checkpoint's vocabulary "
                             f"{self.instructions}")
        return text

    def predict(self, observation, instruction: str) -> dict:
        """The policy's raw outputs for one observation (mn_models.policy.constants keys:
        actions (1, 9), embedding e (1, policy_dim), heatmaps, rotation logits, ...), decoded
        by the policy itself (no teacher forcing), in eval mode without gradients."""
        import torch
        from mn_models.policy.samples import batch_from_observations
        if self._tokens is None or self._tokens[0] != instruction:
            self._tokens = (instruction, self.tokenizer([instruction]))   # (1, L)
        batch = batch_from_observations([observation], self._tokens[1], cameras=self.cameras)
        self.policy.eval()
        with torch.no_grad():
            return self.policy.predict(batch)

    def embedding(self, out: dict) -> np.ndarray:
        """(D,) of predict()'s output: z_e (unit norm) if the checkpoint aligns, else e."""
        import torch
        from mn_models.policy import constants as K
        e = out[K.EMBEDDING]                                   # (1, policy_dim)
        with torch.no_grad():
            if self.alignment is not None:
                e = torch.nn.functional.normalize(self.alignment.T_e(e), dim=-1)  # (1, dim_z)
        return e[0].float().numpy()

    def act(self, observation, instruction: str) -> tuple[np.ndarray, np.ndarray, str]:
        """Next keyframe target (9,) [xyz, quat xyzw, gripper_open, ignore_collisions], the
        embedding (D,) (z_e if the checkpoint aligns, else the raw policy feature e), its kind."""
        from mn_models.policy import constants as K
        out = self.predict(observation, instruction)
        return out[K.ACTIONS][0].double().numpy(), self.embedding(out), self.kind


@dataclass
class Recognition:
    instruction: str                 # the best candidate, or "none" when the rule abstains
    top_k: list[tuple[str, float]]   # (instruction, cosine score), best first
    embedding: np.ndarray            # (D,) z_u, or u without an alignment head
    kind: str                        # "z_u" | "u"
    frames: int                      # frames the clip was sampled from
    abstained: bool = False          # the open-set rule found no known instruction
    open_set: dict | None = None     # {"statistic", "value", "threshold"} (None: no rule)


class ClipBuffer:
    """The frames of the current clip, cut on the frames' own (header) stamps, not on when they
    arrive: frames delivered in bursts stay one clip as long as consecutive stamps are at most
    ``gap_s`` apart. A larger jump, forwards or backwards (a new recording, a replay from its
    start), starts a new clip. Keeps the newest ``max_frames``.

    add() returns why a new clip started (a string) or None; due() says whether ``every`` new
    frames have arrived since the last recognition with at least ``min_frames`` buffered."""

    def __init__(self, gap_s: float, max_frames: int, min_frames: int = 1, every: int = 1):
        from collections import deque
        self.gap_ns = int(round(gap_s * 1e9))
        self.frames: deque = deque(maxlen=max_frames)
        self.min_frames, self.every = max(1, int(min_frames)), max(1, int(every))
        self.last_stamp: int | None = None
        self.new_frames = 0

    def __len__(self) -> int:
        return len(self.frames)

    def clear(self) -> None:
        self.frames.clear()
        self.last_stamp, self.new_frames = None, 0

    def add(self, frame: np.ndarray, stamp_ns: int) -> str | None:
        why = None
        if self.last_stamp is not None:
            dt = int(stamp_ns) - self.last_stamp
            if abs(dt) > self.gap_ns:
                why = (f"new clip (after {len(self.frames)} frames): the stamps jump "
                       f"{dt / 1e9:+.3f} s, more than clip_gap_s {self.gap_ns / 1e9:g}")
                self.clear()
        if self.frames and frame.shape != self.frames[-1].shape:
            why = why or f"new clip (after {len(self.frames)} frames): the frame size changed"
            self.clear()
        self.frames.append(frame)
        self.last_stamp = (int(stamp_ns) if self.last_stamp is None
                           else max(self.last_stamp, int(stamp_ns)))   # late frames: keep newest
        self.new_frames += 1
        return why

    def due(self) -> bool:
        if len(self.frames) >= self.min_frames and self.new_frames >= self.every:
            self.new_frames = 0
            return True
        return False

    def clip(self) -> np.ndarray:
        return np.stack(self.frames)   # (T, H, W, 3)


class EpisodeMirror:
    """The mirror signal over one execution: the policy's z_e of every decision since the
    execution began (each made unit length), averaged, against the observer's z_u by cosine.

    The mirror node publishes it as ``mirror/similarity_episode`` (an execution begins with each
    message on the instruction topic); the success monitor (`mn eval ee --monitor`,
    ``cos_mean``) scores a rollout with the same computation, its z_u from the whole execution.
    A z_e that is not a finite non-zero vector of the running size raises ValueError and
    leaves the mean as it was."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._sum: np.ndarray | None = None
        self.count = 0

    def add(self, z_e) -> None:
        z = np.asarray(z_e, dtype=np.float64).ravel()
        n = float(np.linalg.norm(z)) if np.all(np.isfinite(z)) else float("nan")
        if not np.isfinite(n) or n == 0.0:
            raise ValueError(f"z_e must be a finite non-zero vector (norm {n})")
        if self._sum is not None and z.shape != self._sum.shape:
            raise ValueError(f"z_e of size {z.size} in an episode of size {self._sum.size}")
        self._sum = z / n if self._sum is None else self._sum + z / n
        self.count += 1

    @property
    def size(self) -> int | None:
        """The size of the z_e averaged so far (None before the first decision)."""
        return None if self._sum is None else int(self._sum.size)

    def mean(self) -> np.ndarray | None:
        """The episode's mean z_e, unit length (None before the first decision)."""
        if self._sum is None:
            return None
        return self._sum / max(float(np.linalg.norm(self._sum)), 1e-12)

    def similarity(self, z_u) -> float | None:
        """cosine(z_u, the episode's mean z_e), None before the first decision."""
        m = self.mean()
        if m is None:
            return None
        u = np.asarray(z_u, dtype=np.float64).ravel()
        if u.shape != m.shape:
            raise ValueError(f"cannot compare z_u of size {u.size} with z_e of size {m.size}")
        nu = float(np.linalg.norm(u))
        if not np.isfinite(nu) or nu == 0.0:
            raise ValueError(f"z_u must be a finite non-zero vector (norm {nu})")
        return float(u @ m / nu)


class RecognizerRunner:
    """The recognizer (and T_u when present) of a checkpoint; candidates are its instruction
    vocabulary, embedded once. With a calibrated open-set rule (``open_set.json`` in the
    checkpoint folder, written by `mn calibrate`; ``open_set=False`` ignores it) a clip that
    shows none of the instructions is answered ``none``."""

    def __init__(self, checkpoint, threads: int | None = 1, open_set: bool = True):
        import torch
        from mn_models.checkpoint import CheckpointError, build_alignment, build_recognizer
        _threads(threads)
        self.checkpoint = _open(checkpoint, ("recognizer",), RECOGNIZER_KINDS, "observer")
        meta = self.checkpoint.meta
        self.instructions: list[str] = list(meta.get("instructions", []))
        if not self.instructions:
            raise CheckpointError(f"{self.checkpoint.path} has no instruction vocabulary "
                                  "(meta.json 'instructions'): nothing to recognize")
        self.model = build_recognizer(self.checkpoint).eval()
        self.alignment = (build_alignment(self.checkpoint).eval()
                          if "alignment" in meta.get("modules", []) else None)
        self.num_frames = int(self.model.config.num_frames)
        self.image_size = int(self.model.config.image_size)
        with torch.no_grad():
            self.text = self.model.embed_text(self.instructions)   # (K, embed_dim)
        self.kind = "z_u" if self.alignment is not None else "u"
        from mn_models.eval.open_set import load_rule
        self.rule = load_rule(self.checkpoint.path) if open_set else None
        self._ref = self.rule.reference() if self.rule is not None else None

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """A camera frame (H, W, 3) uint8 of any size -> (S, S, 3) at the recognizer's input size
        S, as the training clips were made: the centred square (a non-square camera loses its
        sides or its top and bottom), then bilinear antialiased resizing (mn_models.data).
        A square larger than 4 S is first averaged over k x k blocks (k = side // 4S, Pillow's
        reduce) -- the same low-pass, ~10x cheaper for a 720p camera; up to 4 S (the 128 px
        observer camera at S = 32) the pixels are exactly the training clips'."""
        from mn_models.data import _resize_frames
        sq = np.ascontiguousarray(center_crop_square(rgb))
        k = sq.shape[0] // (4 * self.image_size)
        if k >= 2:
            from PIL import Image as PILImage
            sq = np.array(PILImage.fromarray(sq).reduce(k))   # (side // k, side // k, 3)
        return _resize_frames(sq[None], self.image_size)[0]

    @property
    def min_side(self) -> int:
        """The smallest decoded frame side that keeps prepare() at full quality (4 S)."""
        return 4 * self.image_size

    def recognize(self, frames: np.ndarray, top_k: int = 3) -> Recognition:
        """frames: (T, H, W, 3) uint8, T >= 1; num_frames are sampled across all of them."""
        import torch
        import torch.nn.functional as F
        from mn_models.data import sample_clip_indices
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} "
                             f"{frames.dtype}")
        clip = frames[sample_clip_indices(len(frames), self.num_frames, None)]  # (F, H, W, 3)
        with torch.no_grad():
            u = self.model.video_feature(clip[None])                 # (1, embed_dim)
            scores = (F.normalize(u.float(), dim=-1)
                      @ F.normalize(self.text.float(), dim=-1).T)[0]  # (K,)
            emb = (F.normalize(self.alignment.T_u(u), dim=-1) if self.alignment is not None
                   else u)                                            # (1, D)
        order = torch.argsort(scores, descending=True)[:max(1, top_k)].tolist()
        ranked = [(self.instructions[i], float(scores[i])) for i in order]
        label, abstained, info = ranked[0][0], False, None
        if self.rule is not None:
            from mn_models.eval.open_set import NONE_LABEL, clip_statistics
            stats = clip_statistics(scores[None], u, self._ref)
            value = float(stats[self.rule.statistic][0])
            abstained = not self.rule.accepts({self.rule.statistic: value})
            info = {"statistic": self.rule.statistic, "value": round(value, 6),
                    "threshold": round(self.rule.threshold, 6)}
            label = NONE_LABEL if abstained else label
        return Recognition(label, ranked, emb[0].float().numpy(), self.kind, len(frames),
                           abstained, info)
