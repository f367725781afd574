"""The trainer's configuration: one dataclass, YAML files in config/train/, key=value overrides.

    cfg = load_train_config("config/train/tiny_mn.yaml", ["steps=200", "alignment.tau=0.2"])

A key that does not exist is an error naming it (and the closest valid key).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mn_models.config_keys import check_keys

MODES = ("au", "ee", "mn", "probe")


@dataclass
class AlignmentConfig:
    """Args:
        dim_z: size of the shared space (paper: 1024).
        tau: InfoNCE temperature (paper: 0.1).
        head: "linear" (paper) or "mlp".
        strategy: positive pairs by "episode", "instruction" (paper default) or "task".
    """
    dim_z: int = 1024
    tau: float = 0.1
    head: str = "linear"
    strategy: str = "instruction"


@dataclass
class TrainConfig:
    """Args:
        mode: "au" (recognizer), "ee" (policy), "mn" (both + alignment, all trained) or
            "probe" (both frozen from checkpoints, only the alignment layers trained).
        data: dataset root written by `mn collect`.
        tasks: tasks to use (empty = all found in data).
        val_fraction: fraction of episodes held out (stable hash of the episode folder).
        recognizer: preset name of the recognizer (mn_models.recognizer.config).
        recognizer_overrides: fields of the recognizer config to change.
        policy: preset name of the policy (mn_models.policy.config).
        policy_overrides: fields of the policy config to change.
        alignment: the mirror-neuron module (see AlignmentConfig).
        au_checkpoint / ee_checkpoint: checkpoint folders the probe loads (frozen); in mn mode
            optional initialisations.
        steps: optimizer steps.
        batch_size: per-process batch size (episodes for au; keyframe samples for ee/mn).
        lr_video: video encoder learning rate (paper: 1e-5).
        lr_text_fraction: text encoder lr as a fraction of lr_video (paper: 0.05).
        lr_policy: policy learning rate.
        lr_align: alignment layers' learning rate (paper: 1e-4).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up, then cosine decay to lr/100.
        lambda_ee / lambda_align: loss weights of L_EE and L_align (paper: 1 and 0.5).
        grad_clip: max gradient norm (0 = off).
        seed: seeds Python, NumPy, torch and the samplers.
        log_every / ckpt_every / eval_every: steps between log lines, checkpoints, val passes.
        keep_checkpoints: how many step checkpoints to keep (the last one is always kept).
        threads: torch intra-op threads per process (0 = torch's default).
        cache_views: train the policy on its stage-1 views rendered once and kept in the
            dataset's cache (only when it neither augments nor zooms; numbers unchanged).
    """
    mode: str = "mn"
    data: str = "runs/data"
    tasks: list[str] = field(default_factory=list)
    val_fraction: float = 0.2
    recognizer: str = "tiny"
    recognizer_overrides: dict = field(default_factory=dict)
    policy: str = "tiny"
    policy_overrides: dict = field(default_factory=dict)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    au_checkpoint: str = ""
    ee_checkpoint: str = ""
    steps: int = 1000
    batch_size: int = 8
    lr_video: float = 1e-5
    lr_text_fraction: float = 0.05
    lr_policy: float = 1e-4
    lr_align: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    lambda_ee: float = 1.0
    lambda_align: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    eval_every: int = 0
    keep_checkpoints: int = 3
    threads: int = 0
    cache_views: bool = True

    def __post_init__(self):
        if isinstance(self.alignment, dict):
            self.alignment = AlignmentConfig(**check_keys(self.alignment, AlignmentConfig, "config",
                                                             prefix="alignment."))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}")
        if self.alignment.strategy not in ("episode", "instruction", "task"):
            raise ValueError(f"alignment.strategy must be episode, instruction or task; got "
                             f"{self.alignment.strategy!r}")
        if self.mode == "probe" and not (self.au_checkpoint and self.ee_checkpoint):
            raise ValueError("mode=probe needs au_checkpoint=<au or mn run> and "
                             "ee_checkpoint=<ee or mn run> (both models are frozen)")
        for k in ("steps", "batch_size"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1; got {getattr(self, k)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**check_keys(d, cls, "config"))


def _parse_value(text: str):
    """YAML scalar, except that '1e-5' is a float (YAML 1.1 would keep it a string)."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """key=value pairs (values parsed as YAML; dotted keys reach into nested sections)."""
    d = dict(d)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. steps=200)")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            node[p] = dict(node.get(p) or {})
            node = node[p]
        node[parts[-1]] = _parse_value(value)
    return d


def load_train_config(path: str | None, overrides: list[str] | None = None) -> TrainConfig:
    base: dict = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} not found (see config/train/)")
        base = yaml.safe_load(p.read_text()) or {}
        if not isinstance(base, dict):
            raise ValueError(f"{p} must hold a mapping of config keys")
    return TrainConfig.from_dict(apply_overrides(base, overrides or []))
