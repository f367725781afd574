"""Checkpoint folders: everything needed to rebuild the models, nothing pickled.

    <ckpt>/config.yaml                the resolved training config
    <ckpt>/meta.json                  kind (au|ee|mn|probe), format version, step, model configs,
                                      instruction/task vocabularies, tokenizer identity
    <ckpt>/model.safetensors          weights, prefixed recognizer./policy./alignment.
    <ckpt>/training_state.safetensors optimizer tensors and RNG states (for --resume)
    <ckpt>/training_state.json        the rest of the training state

Folders are written under a temporary name and renamed, so a reader never sees half of one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

FORMAT_VERSION = 1
META, CONFIG, WEIGHTS = "meta.json", "config.yaml", "model.safetensors"
STATE_T, STATE_J = "training_state.safetensors", "training_state.json"
PROVIDES = {"au": ("recognizer",), "ee": ("policy",), "mn": ("recognizer", "policy", "alignment"),
            "probe": ("recognizer", "policy", "alignment")}


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, of the wrong kind or of another version."""


def tokenizer_identity(context_length: int) -> dict:
    from mn_models.recognizer.tokenizer import find_bpe_vocab
    path = find_bpe_vocab()
    return {"type": "clip_bpe", "context_length": int(context_length),
            "vocab_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def atomic_folder(final, write) -> Path:
    """Call write(tmp_dir), then move tmp_dir to `final`, replacing a folder already there.

    The one helper for every folder the project writes (checkpoints, save_pretrained of the
    recognizer and the policy): a reader sees the old folder or the new one, never a half
    written one; if write() fails nothing changes and the temporary folder is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        write(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)  # left over by an interrupted save
            os.replace(final, old)
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old, final)  # put the previous folder back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_checkpoint(folder: Path, *, kind: str, step: int, config: dict, modules: dict,
                    model_configs: dict, vocab: dict, training_state: dict | None = None) -> Path:
    """modules: name -> nn.Module (saved with prefix name.)."""
    from safetensors.torch import save_file

    def write(tmp: Path):
        weights = {f"{name}.{k}": v.detach().contiguous().cpu().clone()
                   for name, m in modules.items() for k, v in m.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
        meta = {"kind": kind, "format_version": FORMAT_VERSION, "step": int(step),
                "modules": sorted(modules), "model_configs": model_configs, **vocab}
        if "recognizer" in model_configs:
            meta["tokenizer"] = tokenizer_identity(model_configs["recognizer"]["context_length"])
        if training_state is not None:
            tensors, rest = training_state["tensors"], training_state["json"]
            save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp / STATE_T))
            (tmp / STATE_J).write_text(json.dumps(rest))
        (tmp / META).write_text(json.dumps(meta, indent=2))   # last: marks completeness

    return atomic_folder(Path(folder), write)


@dataclass
class Checkpoint:
    path: Path
    meta: dict
    config: dict

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    def weights(self, module: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file
        try:
            all_w = load_file(str(self.path / WEIGHTS))
        except Exception as e:   # truncated / corrupt file
            raise CheckpointError(f"{self.path / WEIGHTS} cannot be read ({e}); the file is "
                                  "truncated or corrupt: re-train or copy it again") from e
        prefix = module + "."
        out = {k[len(prefix):]: v for k, v in all_w.items() if k.startswith(prefix)}
        if not out:
            raise CheckpointError(f"{self.path} holds no {module} weights (kind {self.kind})")
        return out


def open_checkpoint(path, need: tuple[str, ...] = ()) -> Checkpoint:
    """Read a checkpoint folder's metadata and check it provides the modules in `need`.

    `path` may be a checkpoint folder or a run folder (its latest checkpoint is used)."""
    p = Path(path)
    if p.is_dir() and not (p / META).is_file() and (p / "checkpoints").is_dir():
        latest = latest_checkpoint(p)
        if latest is None:
            raise CheckpointError(f"run folder {p} has no complete checkpoint yet")
        p = latest
    if not p.is_dir():
        raise CheckpointError(f"checkpoint folder {p} does not exist; train one with `mn train`")
    if not (p / META).is_file() or not (p / WEIGHTS).is_file():
        raise CheckpointError(f"{p} is not a complete mn checkpoint (needs {META} and {WEIGHTS})")
    try:
        meta = json.loads((p / META).read_text())
        config = yaml.safe_load((p / CONFIG).read_text()) if (p / CONFIG).is_file() else {}
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise CheckpointError(f"{p}: unreadable metadata ({e})") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{p} has checkpoint format version {meta.get('format_version')}; "
                              f"this mn reads version {FORMAT_VERSION}")
    kind = meta.get("kind")
    missing = [m for m in need if m not in meta.get("modules", [])]
    if missing:
        ok = [k for k, mods in PROVIDES.items() if all(m in mods for m in need)]
        raise CheckpointError(f"{p} is a {kind!r} checkpoint without {missing}; this needs a "
                              f"checkpoint of kind {' or '.join(ok)}")
    return Checkpoint(p, meta, config or {})


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    d = checkpoints_dir(run_dir)
    if not d.is_dir():
        return []
    out = [c for c in d.iterdir() if c.name.startswith("step_") and (c / META).is_file()]
    return sorted(out, key=lambda c: int(c.name.split("_")[1]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    cks = list_checkpoints(run_dir)
    return cks[-1] if cks else None


def build_recognizer(ckpt: Checkpoint):
    from mn_models.recognizer.config import RecognizerConfig
    from mn_models.recognizer.model import Recognizer
    cfg = ckpt.meta["model_configs"]["recognizer"]
    model = Recognizer(RecognizerConfig.from_dict(cfg))
    _load(model, ckpt, "recognizer")
    return model


def build_policy(ckpt: Checkpoint):
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.config import PolicyConfig
    model = ARPPolicy(PolicyConfig.from_dict(ckpt.meta["model_configs"]["policy"]))
    _load(model, ckpt, "policy")
    return model


def build_alignment(ckpt: Checkpoint):
    from mn_models.alignment import MirrorAlignment
    model = MirrorAlignment(**ckpt.meta["model_configs"]["alignment"])
    _load(model, ckpt, "alignment")
    return model


def _load(model, ckpt: Checkpoint, name: str) -> None:
    try:
        result = model.load_state_dict(ckpt.weights(name), strict=False)
    except RuntimeError as e:   # shape mismatches
        raise CheckpointError(f"{ckpt.path}: {name} weights do not fit its config: {e}") from e
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{ckpt.path}: {name} weights do not fit its config "
                              f"(missing {result.missing_keys[:5]}, unexpected "
                              f"{result.unexpected_keys[:5]})")
