"""The trainer's configuration: one dataclass, YAML files in config/train/, key=value overrides.

    cfg = load_train_config("config/train/tiny_mn.yaml", ["steps=200", "alignment.tau=0.2"])

Every field has a type and an allowed range or set of choices (see :func:`describe_keys`,
mn_models.config_keys for the rules). A key that does not exist is a KeyError naming it (and the
closest valid key); a value of the wrong type or out of range is a ConfigError (a ValueError)
naming the key, the value and what is allowed. Both are raised while the config is built, so
`mn train` refuses before it writes anything to the run folder.

List fields (``tasks``) take a YAML list (``tasks=[open_drawer,turn_tap]``), a comma-separated
string (``tasks=open_drawer,turn_tap``) or one name (``tasks=open_drawer``); task names are
checked against mn_sim's tasks (`mn tasks`); ``tasks=all`` or ``tasks=[]`` means all tasks
found in the data. Integers may be written as whole floats (``steps=1e3`` is 1000); a fraction
(``batch_size=2.5``), a bool for a number, or a number for a string is refused.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from mn_models.config_keys import ConfigError, check_keys, coerce, field_types, setting, validate

MODES = ("au", "ee", "mn", "probe")
STRATEGIES = ("episode", "instruction", "task")
HEADS = ("linear", "mlp")              # mn_models.alignment.HEADS (kept import-free here)
# keys that existed once and were removed: the error says why instead of "unknown key"
REMOVED_KEYS = {"eval_every": "it was never used (no validation pass runs during training; "
                              "evaluate checkpoints with `mn eval`)"}


def _task_names() -> tuple[str, ...]:
    from mn_sim.tasks.registry import task_names
    return task_names()


def _recognizer_presets() -> tuple[str, ...]:
    from mn_models.recognizer.config import RECOGNIZER_PRESETS
    return tuple(sorted(RECOGNIZER_PRESETS))


def _policy_presets() -> tuple[str, ...]:
    from mn_models.policy.config import PRESETS
    return tuple(sorted(PRESETS))


@dataclass
class AlignmentConfig:
    """Args:
        dim_z: size of the shared space (paper: 1024).
        tau: InfoNCE temperature (paper: 0.1).
        head: "linear" (paper) or "mlp".
        strategy: positive pairs by "episode", "instruction" (paper default) or "task".
    """
    dim_z: int = setting(1024, ge=1)
    tau: float = setting(0.1, gt=0.0)
    head: str = setting("linear", choices=HEADS)
    strategy: str = setting("instruction", choices=STRATEGIES)

    def __post_init__(self):
        validate(self, prefix="alignment.")


@dataclass
class TrainConfig:
    """Args:
        mode: "au" (recognizer), "ee" (policy), "mn" (both + alignment, all trained) or
            "probe" (both frozen from checkpoints, only the alignment layers trained).
        data: dataset root written by `mn collect`.
        tasks: tasks to use (empty or "all" = all found in data); names from `mn tasks`.
        val_fraction: fraction of episodes held out, in [0, 1) (stable hash of the episode
            folder); the held-out split is what `mn eval --split val` evaluates.
        train_episodes_per_task: train on only the first K training episodes of each task
            (0 = all); the held-out split is unchanged (a curve over data size).
        recognizer: preset name of the recognizer (mn_models.recognizer.config).
        recognizer_overrides: fields of the recognizer config to change.
        policy: preset name of the policy (mn_models.policy.config).
        policy_overrides: fields of the policy config to change.
        alignment: the mirror-neuron module (see AlignmentConfig).
        au_checkpoint / ee_checkpoint: checkpoint folders the probe loads (frozen); in mn mode
            optional initialisations.
        steps: optimizer steps (>= 1).
        batch_size: per-process batch size (episodes for au; keyframe samples for ee/mn).
        lr_video: video encoder learning rate (paper: 1e-5); every lr is in [0, 1], 0 freezes
            that parameter group.
        lr_text_fraction: text encoder lr as a fraction of lr_video (paper: 0.05).
        lr_policy: policy learning rate.
        lr_align: alignment layers' learning rate (paper: 1e-4).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up, then cosine decay to lr/100.
        lambda_ee / lambda_align: loss weights of L_EE and L_align (paper: 1 and 0.5).
        grad_clip: max gradient norm (0 = off).
        seed: seeds Python, NumPy, torch and the samplers (0 .. 2**31-1).
        log_every / ckpt_every: steps between log lines and between checkpoints.
        keep_checkpoints: how many step checkpoints to keep (the last one is always kept).
        threads: torch intra-op threads per process (0 = torch's default).
        cache_views: train the policy on its stage-1 views rendered once and kept in the
            dataset's cache (only when it neither augments nor zooms; numbers unchanged).
    """
    mode: str = setting("mn", choices=MODES)
    data: str = setting("runs/data", nonempty=True)
    tasks: list[str] = setting(default_factory=list, choices=_task_names, all_word=True)
    val_fraction: float = setting(0.2, ge=0.0, lt=1.0)
    train_episodes_per_task: int = setting(0, ge=0)
    recognizer: str = setting("tiny", choices=_recognizer_presets)
    recognizer_overrides: dict = setting(default_factory=dict)
    policy: str = setting("tiny", choices=_policy_presets)
    policy_overrides: dict = setting(default_factory=dict)
    alignment: AlignmentConfig = dataclasses.field(default_factory=AlignmentConfig)
    au_checkpoint: str = ""
    ee_checkpoint: str = ""
    steps: int = setting(1000, ge=1)
    batch_size: int = setting(8, ge=1)
    lr_video: float = setting(1e-5, ge=0.0, le=1.0)
    lr_text_fraction: float = setting(0.05, ge=0.0)
    lr_policy: float = setting(1e-4, ge=0.0, le=1.0)
    lr_align: float = setting(1e-4, ge=0.0, le=1.0)
    weight_decay: float = setting(0.01, ge=0.0)
    warmup_steps: int = setting(50, ge=0)
    lambda_ee: float = setting(1.0, ge=0.0)
    lambda_align: float = setting(0.5, ge=0.0)
    grad_clip: float = setting(1.0, ge=0.0)
    seed: int = setting(0, ge=0, le=2 ** 31 - 1)
    log_every: int = setting(10, ge=1)
    ckpt_every: int = setting(100, ge=1)
    keep_checkpoints: int = setting(3, ge=1)
    threads: int = setting(0, ge=0)
    cache_views: bool = True

    def __post_init__(self):
        if isinstance(self.alignment, dict):
            self.alignment = AlignmentConfig(**check_keys(self.alignment, AlignmentConfig, "config",
                                                             prefix="alignment."))
        elif not isinstance(self.alignment, AlignmentConfig):
            keys = ", ".join(f.name for f in dataclasses.fields(AlignmentConfig))
            raise ConfigError(f"config key 'alignment': got {self.alignment!r}; allowed: a "
                              f"mapping of {keys}")
        validate(self)
        self._check_model_overrides()
        if self.mode == "probe" and not (self.au_checkpoint and self.ee_checkpoint):
            raise ConfigError("mode=probe needs au_checkpoint=<au or mn run> and "
                              "ee_checkpoint=<ee or mn run> (both models are frozen)")

    def _check_model_overrides(self) -> None:
        """recognizer_overrides / policy_overrides: known keys, simple types coerced, and the
        preset + overrides accepted by the model config's own checks."""
        from mn_models.policy.config import PolicyConfig, make_policy_config
        from mn_models.recognizer.config import RecognizerConfig, make_recognizer_config
        for name, cls, make in (("recognizer", RecognizerConfig, make_recognizer_config),
                                ("policy", PolicyConfig, make_policy_config)):
            key = f"{name}_overrides"
            over = check_keys(getattr(self, key), cls, "config", prefix=f"{key}.")
            hints = field_types(cls)
            for k, v in over.items():
                tp = hints[k]
                if tp in (int, float, bool, str):
                    over[k] = coerce(f"{key}.{k}", v, tp)
            try:
                make(getattr(self, name), **over)
            except (ValueError, TypeError, KeyError) as e:
                msg = e.args[0] if isinstance(e, KeyError) and e.args else e
                raise ConfigError(f"config key '{key}' ({name}={getattr(self, name)}): "
                                  f"{msg}") from None
            setattr(self, key, over)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        for k in d:
            if k in REMOVED_KEYS:
                raise KeyError(f"config key '{k}' was removed: {REMOVED_KEYS[k]}; delete it")
        return cls(**check_keys(d, cls, "config"))


def describe_keys() -> list[tuple[str, str]]:
    """(key, what it accepts) for every config key, nested ones dotted."""
    from mn_models.config_keys import allowed
    out = []
    for cls, prefix in ((TrainConfig, ""), (AlignmentConfig, "alignment.")):
        hints = field_types(cls)
        for f in dataclasses.fields(cls):
            if not dataclasses.is_dataclass(hints[f.name]):
                out.append((prefix + f.name, allowed(hints[f.name], f.metadata.get("rules", {}))))
    return out


def _parse_value(text: str):
    """YAML scalar, except that '1e-5' is a float (YAML 1.1 would keep it a string)."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _target_type(parts: list[str]):
    """Type of the field a dotted override key names (None: unknown or free-form)."""
    cls = TrainConfig
    for i, p in enumerate(parts):
        if not (dataclasses.is_dataclass(cls) and p in {f.name for f in dataclasses.fields(cls)}):
            return None
        tp = field_types(cls)[p]
        if i == len(parts) - 1:
            return tp
        cls = tp
    return None


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """key=value pairs (dotted keys reach into nested sections). A value is parsed as YAML
    (``[a, b]``, ``true``, ``1e-5``), except for a string field, whose value is the text as
    given (``data=2024`` is the folder "2024"). Type and range are checked when the config is
    built from the result."""
    d = dict(d)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. steps=200)")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not all(parts):
            raise ValueError(f"override {item!r}: the key {key!r} is empty or has an empty part")
        if parts[0] in REMOVED_KEYS:
            raise KeyError(f"config key '{parts[0]}' was removed: {REMOVED_KEYS[parts[0]]}")
        node = d
        for i, p in enumerate(parts[:-1]):
            sub = node.get(p)
            if sub is not None and not isinstance(sub, dict):
                raise ConfigError(f"override {item!r}: '{'.'.join(parts[:i + 1])}' is "
                                  f"{sub!r}, not a section with keys")
            node[p] = dict(sub or {})
            node = node[p]
        if _target_type(parts) is str:
            value = text
        else:
            try:
                value = _parse_value(text)
            except yaml.YAMLError as e:
                raise ConfigError(f"config key '{key}': cannot read {text!r} "
                                  f"({str(e).splitlines()[0]})") from None
        node[parts[-1]] = value
    return d


def load_train_config(path: str | None, overrides: list[str] | None = None) -> TrainConfig:
    """The config file (or the defaults) with ``overrides`` applied, validated."""
    base: dict = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} not found (see config/train/)")
        try:
            base = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p} is not valid YAML: {e}") from None
        if not isinstance(base, dict):
            raise ConfigError(f"{p} must hold a mapping of config keys")
    return TrainConfig.from_dict(apply_overrides(base, overrides or []))
