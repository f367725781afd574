"""Load published ViCLIP weights into a :class:`Recognizer`.

Sources: ``ViClip-InternVid-10M-FLT.pth`` (``torch.load(path, weights_only=True)['model']``)
or a safetensors file (ViCLIP-B-16-hf / ViCLIP-L-14-hf releases). The ViCLIP key layout
(InternVid ``viclip/viclip.py``, ``viclip_vision.py``, ``viclip_text.py``)::

    vision_encoder.{conv1.weight, class_embedding, positional_embedding,
                    temporal_positional_embedding, ln_pre.*, ln_post.*, proj,
                    transformer.resblocks.{i}.{attn.in_proj_weight, attn.in_proj_bias,
                        attn.out_proj.*, ln_1.*, mlp.c_fc.*, mlp.c_proj.*, ln_2.*}}
    text_encoder.{token_embedding.weight, positional_embedding, ln_final.*, text_projection,
                  transformer.resblocks.{i}.*}
    temp

The video side has our module names already. The text side is OpenAI-CLIP naming mapped onto
transformers' CLIPTextModel: token_embedding -> embeddings.token_embedding,
positional_embedding -> embeddings.position_embedding.weight (a 77-row table from a CLIP
text encoder is cut to our context length: ViCLIP only ever uses the first 32 positions),
attn.in_proj_{weight,bias} -> self_attn.{q,k,v}_proj (split in q, k, v order, as
nn.MultiheadAttention packs them), attn.out_proj -> self_attn.out_proj, ln_1/ln_2 ->
layer_norm1/layer_norm2, mlp.c_fc/c_proj -> mlp.fc1/fc2, ln_final -> final_layer_norm.

Loading is strict: a missing, unexpected or wrongly shaped key is an error that names it.
A uniform ``module.`` (DDP) or ``model.`` prefix is stripped.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

from mn_models.recognizer.model import Recognizer

_TEXT_BLOCK = re.compile(r"text_encoder\.transformer\.resblocks\.(\d+)\.(.+)")
_TEXT_BLOCK_NAMES = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight", "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight", "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
}
_STRIPPABLE_PREFIXES = ("module.", "model.")
_MAX_LISTED = 20
log = logging.getLogger(__name__)


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the model: its message lists the offending keys."""


def _hf_prefix(model: Recognizer) -> str:
    """Where CLIPTextModel's own keys live inside the recognizer's state dict
    (transformers 4.x nests them under ``text_model.``, 5.x does not)."""
    hf = model.text_encoder.hf
    inner = "text_model." if hasattr(hf, "text_model") else ""
    return "text_encoder.hf." + inner


def strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a ``module.``/``model.`` prefix that every key carries (repeatedly)."""
    changed = True
    while changed and state:
        changed = False
        for prefix in _STRIPPABLE_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def convert_viclip_state_dict(state: dict[str, torch.Tensor], model: Recognizer
                              ) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Rename ViCLIP keys to the recognizer's.

    Returns (converted state dict, unexpected source keys, notes). Tensors are views or
    slices of the source ones (the q/k/v split), not copies.
    """
    state = strip_prefix(dict(state))
    hf = _hf_prefix(model)
    ctx = model.config.context_length
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    notes: list[str] = []
    for key, value in state.items():
        if key.startswith("vision_encoder.") or key == "temp":
            out[key] = value
        elif key == "text_encoder.token_embedding.weight":
            out[hf + "embeddings.token_embedding.weight"] = value
        elif key == "text_encoder.positional_embedding":
            if value.ndim == 2 and value.shape[0] > ctx:
                notes.append(f"{key}: {value.shape[0]} positions cut to the context length "
                             f"{ctx}")
                value = value[:ctx]
            out[hf + "embeddings.position_embedding.weight"] = value
        elif key in ("text_encoder.ln_final.weight", "text_encoder.ln_final.bias"):
            out[hf + "final_layer_norm." + key.rsplit(".", 1)[1]] = value
        elif key == "text_encoder.text_projection":
            out["text_encoder.text_projection"] = value
        elif m := _TEXT_BLOCK.fullmatch(key):
            i, rest = m.group(1), m.group(2)
            layer = f"{hf}encoder.layers.{i}."
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = rest.rsplit("_", 1)[1]  # weight | bias
                if value.shape[0] % 3:
                    unexpected.append(f"{key} (first dim {value.shape[0]} not 3 x width)")
                    continue
                for name, part in zip("qkv", value.chunk(3, dim=0)):
                    out[f"{layer}self_attn.{name}_proj.{kind}"] = part
            elif rest in _TEXT_BLOCK_NAMES:
                out[layer + _TEXT_BLOCK_NAMES[rest]] = value
            else:
                unexpected.append(key)
        else:
            unexpected.append(key)
    return out, unexpected, notes


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def _torch_load_weights_only(path: Path):
    """torch.load(weights_only=True). EasyDict configs that ViCLIP training checkpoints may
    carry are read as OrderedDicts (a type the weights-only unpickler already trusts), so no
    code from the file's classes ever runs; any other object is refused."""
    allowed: list = []
    for _ in range(8):
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            m = re.search(r"GLOBAL ([\w.]+\.EasyDict)\b", str(err))
            if m is None or any(name == m.group(1) for _, name in allowed):
                raise ValueError(
                    f"{path} holds Python objects that a weights-only load refuses ({err}). "
                    "We never unpickle arbitrary objects: in an environment you trust, re-save "
                    "the weights with safetensors.torch.save_file(torch.load(path)['model'], "
                    "'viclip.safetensors') and load that file.") from err
            allowed.append((OrderedDict, m.group(1)))
    raise ValueError(f"{path}: too many unsupported globals for a weights-only load")


def read_viclip_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ViCLIP checkpoint: ``.safetensors``, or a torch file holding
    ``{'model': state_dict}`` (or a bare state dict), read with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ViCLIP checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path), device="cpu")
    obj = _torch_load_weights_only(path)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} is not a ViCLIP checkpoint: expected {{'model': state_dict}} "
                         "or a state dict of tensors")
    return obj


def load_viclip_state_dict(model: Recognizer, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy a ViCLIP state dict into ``model`` (strict); returns notes on adaptations.

    Raises:
        CheckpointMismatchError: naming missing keys, unexpected keys and shape mismatches.
    """
    converted, unexpected, notes = convert_viclip_state_dict(state, model)
    target = model.state_dict()
    missing = sorted(k for k in target if k not in converted)
    unexpected = sorted(unexpected + [k for k in converted if k not in target])
    wrong = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(target[k].shape)}"
             for k, v in converted.items() if k in target and v.shape != target[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys (model expects, checkpoint lacks): {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys (checkpoint has, model lacks): {_listed(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {_listed(wrong)}")
    if problems:
        raise CheckpointMismatchError(
            f"ViCLIP checkpoint does not fit recognizer config {model.config.name!r}: "
            + "; ".join(problems)
            + ". Pick the preset of the checkpoint (viclip_b16 or viclip_l14).")
    model.load_state_dict(converted, strict=True)
    for note in notes:
        log.info("ViCLIP checkpoint: %s", note)
    return notes


def load_viclip_checkpoint(model: Recognizer, path: str | os.PathLike) -> list[str]:
    """Load a ViCLIP ``.pth`` or ``.safetensors`` file into ``model`` (strict).

    Returns notes on adaptations (e.g. positional rows cut to the context length).
    """
    return load_viclip_state_dict(model, read_viclip_state_dict(path))
