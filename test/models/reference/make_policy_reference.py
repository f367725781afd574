"""Reference outputs of the ARP policy, recorded with the code *before* the speed work of
issue 9 (commit ac21c2d), so that every later speed-up is checked against the numbers the
policy computed then (test/models/test_policy_reference.py).

Do not re-run this to make a failing test pass: a difference means the policy no longer
computes what it did. Re-run it only for a deliberate, measured change of the model's
numbers, and say so in the commit.

    .venv/bin/python test/models/reference/make_policy_reference.py

Writes, next to this file:
  mini_c2f/            a trained checkpoint folder (ARPPolicy.save_pretrained) of a small
                       two-stage config (coarse-to-fine, point splatting) with a 64-token vocab
  inputs.safetensors   4 synthetic observations of the 4 cameras at 64 px (tokens remapped to
                       the small vocabulary) with their target actions
  mini_c2f.safetensors predict() and forward() outputs of that checkpoint on those inputs
  tiny.safetensors     the same for the tiny preset initialised with torch.manual_seed(0)
                       (weights not stored: rebuilt from the seed)
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from mn_models.policy import constants as K
from mn_models.policy.arp import ARPPolicy
from mn_models.policy.config import make_policy_config
from mn_models.policy.synthetic import make_synthetic_batch

HERE = Path(__file__).resolve().parent
CAMERAS = ("front", "left_shoulder", "right_shoulder", "wrist")
MINI = dict(img_size=32, patch_size=8, point_splat=1, im_channels=16, attn_dim=64, attn_heads=2,
            attn_dim_head=32, depth=2, lang_dim=16, text_layers=1, text_heads=2, vocab_size=64,
            lang_max_len=8, coarse_to_fine=True, policy_dim=32, policy_heads=2,
            policy_cross_layers=1, policy_self_layers=1, augment=False, policy_dropout=0.0,
            attn_dropout=0.0)


def reference_inputs() -> dict:
    batch = make_synthetic_batch(4, seed=3, hw=64, cameras=CAMERAS)
    ids = sorted(set(batch[K.LANG_TOKENS].flatten().tolist()))
    remap = {t: i + 1 for i, t in enumerate(ids)}
    batch[K.LANG_TOKENS] = batch[K.LANG_TOKENS].apply_(lambda t: remap[t])
    return batch


def outputs(policy: ARPPolicy, batch: dict) -> dict:
    out = {}
    policy.eval()
    with torch.no_grad():
        p = policy.predict({k: v for k, v in batch.items() if k != K.ACTION})
    out["predict.actions"] = p[K.ACTIONS]
    out["predict.e"] = p[K.EMBEDDING]
    out["predict.point"] = p[K.POINT]
    out["predict.rot_bins"] = p[K.ROT_BINS]
    out["predict.prompt"] = p["prompt"]
    for i, hm in enumerate(p[K.HEATMAPS]):
        out[f"predict.heatmap{i}"] = hm
    for n, lg in p[K.TOKEN_LOGITS].items():
        out[f"predict.logits.{n}"] = lg
    with torch.no_grad():
        loss, logs, o = policy(batch)
    out["forward_eval.loss"] = loss.reshape(1)
    out["forward_eval.e"] = o[K.EMBEDDING]
    for i, hm in enumerate(o[K.HEATMAPS]):
        out[f"forward_eval.heatmap{i}"] = hm
    for n, lg in o[K.TOKEN_LOGITS].items():
        out[f"forward_eval.logits.{n}"] = lg
    # training mode: rotation jitter and the stage-2 centre noise draw from torch's RNG
    policy.train()
    torch.manual_seed(123)
    loss, logs, o = policy(batch)
    policy.zero_grad(set_to_none=True)
    loss.backward()
    out["forward_train.loss"] = loss.detach().reshape(1)
    out["forward_train.e"] = o[K.EMBEDDING].detach()
    for name in ("mvt1.patchify.weight", "cct.blocks.0.attn.qkv.weight", "heads.rot_z.weight",
                 "text_encoder.token_embedding.weight", "upsample.0.net_out.0.weight"):
        out[f"grad.{name}"] = dict(policy.named_parameters())[name].grad.detach().clone()
    policy.zero_grad(set_to_none=True)
    policy.eval()
    return {k: v.contiguous() for k, v in out.items()}


def main():
    torch.set_num_threads(1)
    batch = reference_inputs()
    save_file({k: v.contiguous() for k, v in batch.items()}, str(HERE / "inputs.safetensors"))

    torch.manual_seed(0)
    mini = ARPPolicy(make_policy_config("tiny", cameras=CAMERAS, **MINI))
    opt = torch.optim.AdamW(mini.parameters(), lr=2e-3)
    mini.train()
    for step in range(60):       # decisive outputs: argmaxes far from ties
        loss, logs, _ = mini(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"mini_c2f trained: loss {loss.item():.3f}")
    mini.eval()
    mini.save_pretrained(HERE / "mini_c2f")
    save_file(outputs(ARPPolicy.from_pretrained(HERE / "mini_c2f"), batch),
              str(HERE / "mini_c2f.safetensors"))

    torch.manual_seed(0)
    tiny = ARPPolicy(make_policy_config("tiny", cameras=CAMERAS, vocab_size=64))
    save_file(outputs(tiny, batch), str(HERE / "tiny.safetensors"))
    for f in sorted(HERE.rglob("*.safetensors")):
        print(f"{f.relative_to(HERE)}: {f.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
