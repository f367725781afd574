"""Loading what an evaluation needs: checkpoints' models, the held-out split, the tokenizer the
policy was trained with."""
from __future__ import annotations

from typing import Sequence

import torch


class EvalError(ValueError):
    """Bad input to an evaluation (empty split, wrong checkpoint, unknown task...)."""


def train_config_of(ckpt) -> dict:
    """The training config stored with a checkpoint ({} if none)."""
    return dict(ckpt.config or {})


def checked_split(checkpoints: Sequence, split: str) -> float:
    """The val_fraction of the split every checkpoint in `checkpoints` trained on; refuses a
    checkpoint without a recorded split (written before the split became a property of the
    dataset: it may have trained on today's held-out episodes) and checkpoints whose splits
    differ (a probe of recognizer seed 1 with policy seed 0 must not evaluate on episodes one
    of them trained on). `split="all"` needs no check."""
    from mn_models.data import SPLIT_RULE
    fractions = {}
    for c in checkpoints:
        s = c.meta.get("split") or {}
        if split != "all" and s.get("rule") != SPLIT_RULE:
            raise EvalError(f"{c.path} records no held-out split of today's kind (it was trained "
                            "before the split became a property of the dataset, and its "
                            "held-out episodes may be today's training ones): retrain it, or "
                            "evaluate with --split all")
        fractions[str(c.path)] = float(s.get("val_fraction",
                                             (c.config or {}).get("val_fraction", 0.2)))
    if split != "all" and len(set(fractions.values())) > 1:
        raise EvalError(f"these checkpoints were trained on different splits (val_fraction "
                        f"{fractions}): their held-out episodes differ; use checkpoints of "
                        "one split")
    return next(iter(fractions.values()), 0.2)


def load_split(data, split: str, train_config: dict, *, tasks: Sequence[str] | None = None,
               clip_size: int = 32, cameras: Sequence[str] = ("front",),
               need_clips: bool = True, need_samples: bool = True, checkpoints: Sequence = ()):
    """The `split` ("val" = held out, "train" or "all") of dataset `data` under the dataset's
    split rule (mn_models.data.SPLIT_RULE) with the val_fraction the `checkpoints` recorded
    (checked_split refuses checkpoints of another or an unrecorded split)."""
    from mn_models.data import MirrorData
    if split not in ("val", "train", "all"):
        raise EvalError(f"--split must be val, train or all; got {split!r}")
    val_fraction = (checked_split(checkpoints, split) if checkpoints
                    else float(train_config.get("val_fraction", 0.2)))
    tasks = list(tasks or train_config.get("tasks") or []) or None
    try:
        d = MirrorData(data, tasks=tasks, split=split, val_fraction=val_fraction,
                       clip_size=clip_size, cameras=tuple(cameras), need_samples=need_samples,
                       need_clips=need_clips)
    except FileNotFoundError as e:
        raise EvalError(str(e)) from e
    if len(d) == 0:
        raise EvalError(f"the {split!r} split of {data} is empty (val_fraction {val_fraction}, "
                        f"tasks {tasks or 'all'}): collect more episodes or use --split all")
    if need_samples and not d.index:
        raise EvalError(f"the {split!r} split of {data} has no keyframe samples")
    return d


def policy_context_length(ckpt) -> int:
    """Token length the policy saw in training (the trainer tokenizes with the recognizer's
    context length, also in ee mode)."""
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.tokenizer import DEFAULT_CONTEXT_LENGTH
    if "tokenizer" in ckpt.meta:
        return int(ckpt.meta["tokenizer"]["context_length"])
    cfg = train_config_of(ckpt)
    try:
        return make_recognizer_config(cfg.get("recognizer", "tiny"),
                                      **(cfg.get("recognizer_overrides") or {})).context_length
    except (KeyError, TypeError, ValueError):
        return DEFAULT_CONTEXT_LENGTH


def policy_tokenizer(ckpt):
    from mn_models.recognizer.tokenizer import get_tokenizer
    return get_tokenizer(policy_context_length(ckpt))


def label(ckpt) -> str:
    """Short name of a checkpoint for tables: <run>/step_N."""
    p = ckpt.path
    run = p.parent.parent.name if p.parent.name == "checkpoints" else p.parent.name
    return f"{run}/{p.name}"


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))
