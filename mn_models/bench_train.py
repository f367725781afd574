"""Training benchmark (`mn bench train`): numbers, measured in one run on synthetic in-memory data.

step_s_au / step_s_ee / step_s_mn   median seconds of one optimizer step (forward, backward,
                                    AdamW) of the tiny au, ee and mn configs, all at the mn
                                    config's batch size so that they see the same samples
mn_overhead_ratio                   step_s_mn / (step_s_au + step_s_ee) (goal <= 1.05): the cost
                                    of the alignment on top of training both models
policy_latency_ms_p50/_p95          ARPPolicy.predict_action on one observation (4 cameras
                                    RGB-D at 128x128), per keyframe, 1 torch thread
recognizer_latency_ms_p50/_p95      Recognizer.recognize of one 8-frame 128x128 clip against
                                    precomputed text embeddings (preprocessing included),
                                    1 torch thread
train_flops_fraction_of_peak        FLOPs of an mn step (torch.utils.flop_counter) / step time,
                                    over the best dense float32 matmul rate measured here
Inputs: random uint8 clips (recognizer) and ray-cast box scenes (policy, policy/synthetic.py),
instructions tokenized as in training. Training threads: the tiny configs' `threads` (or
`threads=`); inference runs on 1 thread, as each `mn eval ee` worker does. On a shared machine
other processes inflate multi-threaded step times a lot (OpenMP threads wait on each other).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "train"
INSTRUCTIONS = ("open the bottom drawer", "open the middle drawer", "open the top drawer",
                "turn left tap", "turn right tap")
CAMERA_SIZE = 128


def tiny_config(mode: str, **overrides):
    from mn_models.train_config import TrainConfig, load_train_config
    path = CONFIG_DIR / f"tiny_{mode}.yaml"
    items = [f"{k}={v}" for k, v in overrides.items()]
    if mode == "probe":
        items += ["au_checkpoint=unused", "ee_checkpoint=unused"]
    if path.is_file():
        return load_train_config(str(path), items)
    return TrainConfig.from_dict({"mode": mode, **overrides})


def synthetic_batches(rcfg, pcfg, batch_size: int, seed: int = 0) -> tuple[dict, dict]:
    """An au batch and an ee batch whose row i share an instruction (as mn_batch)."""
    from mn_models.policy import constants as K
    from mn_models.policy.synthetic import make_synthetic_batch
    from mn_models.recognizer.tokenizer import get_tokenizer
    g = torch.Generator().manual_seed(seed)
    iid = torch.randint(0, len(INSTRUCTIONS), (batch_size,), generator=g)
    texts = [INSTRUCTIONS[i] for i in iid.tolist()]
    S, T = rcfg.image_size, rcfg.num_frames
    ids = {"instruction_id": iid, "task_id": (iid >= 3).long(),
           "episode_id": torch.arange(batch_size)}
    au = {"video": torch.randint(0, 256, (batch_size, T, S, S, 3), dtype=torch.uint8,
                                 generator=g), "text": texts, **ids}
    ee = make_synthetic_batch(batch_size, seed=seed, hw=CAMERA_SIZE,
                              cameras=tuple(pcfg.cameras))
    tokens = get_tokenizer(rcfg.context_length)(texts)                       # (B, L)
    ee[K.LANG_TOKENS], ee[K.LANG_MASK] = tokens, tokens != 0
    ee.update(ids)
    return au, ee


def build_model(cfg):
    """MirrorModel of a mode with freshly initialized tiny modules (seeded)."""
    from mn_models.alignment import MirrorAlignment
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.config import make_policy_config
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer
    from mn_models.trainer import MirrorModel
    torch.manual_seed(cfg.seed)
    rcfg = make_recognizer_config(cfg.recognizer, **cfg.recognizer_overrides)
    pcfg = make_policy_config(cfg.policy, **cfg.policy_overrides)
    rec = Recognizer(rcfg) if cfg.mode in ("au", "mn") else None
    pol = ARPPolicy(pcfg) if cfg.mode in ("ee", "mn") else None
    ali = None
    if cfg.mode == "mn":
        a = cfg.alignment
        ali = MirrorAlignment(rcfg.embed_dim, pcfg.policy_dim, a.dim_z, a.tau, a.head)
    return MirrorModel(cfg, rec, pol, ali).train(), rcfg, pcfg


def _train_step(model, opt, au, ee, num_frames, grad_clip):
    loss, _ = model(au if model.recognizer is not None else None,
                    ee if model.policy is not None else None, num_frames)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return float(loss.detach())


def time_training(modes=("au", "ee", "mn"), batch_size: int = 4, steps: int = 5,
                  warmup: int = 2, seed: int = 0) -> dict:
    """Median step time of each mode on synthetic batches, plus the FLOPs of one step (forward
    and backward). Steps of the modes are interleaved (au, ee, mn, au, ...) so that load from
    other processes hits them alike."""
    from torch.utils.flop_counter import FlopCounterMode
    runs = {}
    for mode in modes:
        cfg = tiny_config(mode, batch_size=batch_size, seed=seed)
        model, rcfg, pcfg = build_model(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=cfg.weight_decay)
        batches = [synthetic_batches(rcfg, pcfg, batch_size, seed + k) for k in range(2)]
        runs[mode] = (cfg, model, opt, batches, rcfg.num_frames, [])
    for k in range(warmup + steps):
        for mode, (cfg, model, opt, batches, nf, times) in runs.items():
            au, ee = batches[k % 2]
            t = time.perf_counter()
            _train_step(model, opt, au, ee, nf, cfg.grad_clip)
            if k >= warmup:
                times.append(time.perf_counter() - t)
    out = {}
    for mode, (cfg, model, opt, batches, nf, times) in runs.items():
        au, ee = batches[0]
        with FlopCounterMode(display=False) as fc:
            loss, _ = model(au if model.recognizer is not None else None,
                            ee if model.policy is not None else None, nf)
            loss.backward()
        opt.zero_grad(set_to_none=True)
        out[mode] = {"step_s": float(np.median(times)), "flops": int(fc.get_total_flops())}
    return out


def matmul_peak_flops(n: int = 1024, reps: int = 8) -> float:
    """Best dense float32 matmul rate (FLOP/s) of n x n products on this machine."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


@torch.no_grad()
def inference_latency(reps: int = 20, warmup: int = 2, seed: int = 0) -> dict:
    """p50/p95 latency (ms) of the tiny policy per keyframe and the tiny recognizer per clip."""
    from mn_models.policy import constants as K
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.config import make_policy_config
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer
    cfg = tiny_config("mn", seed=seed)
    torch.manual_seed(seed)
    pol = ARPPolicy(make_policy_config(cfg.policy, **cfg.policy_overrides)).eval()
    rec = Recognizer(make_recognizer_config(cfg.recognizer, **cfg.recognizer_overrides)).eval()
    _, batch = synthetic_batches(rec.config, pol.cfg, 1, seed)
    batch.pop(K.ACTION)
    clip = torch.randint(0, 256, (1, rec.config.num_frames, CAMERA_SIZE, CAMERA_SIZE, 3),
                         dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    text = rec.embed_text(list(INSTRUCTIONS))
    out = {}
    for name, fn in (("policy", lambda: pol.predict_action(batch)),
                     ("recognizer", lambda: rec.recognize(clip, text))):
        ms = []
        for k in range(warmup + reps):
            t = time.perf_counter()
            fn()
            if k >= warmup:
                ms.append(1000.0 * (time.perf_counter() - t))
        out[f"{name}_latency_ms_p50"], out[f"{name}_latency_ms_p95"] = _percentiles(ms)
    return out


def run_bench(steps: int = 5, warmup: int = 2, latency_reps: int = 20, threads: int | None = None,
              seed: int = 0) -> dict:
    """Every figure of the module docstring, in one dict."""
    if steps < 1 or warmup < 0 or latency_reps < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0 and latency_reps >= 1; got {steps}, "
                         f"{warmup} and {latency_reps}")
    mn_cfg = tiny_config("mn")
    threads = threads or mn_cfg.threads or torch.get_num_threads()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        bs = mn_cfg.batch_size
        res = time_training(("au", "ee", "mn"), bs, steps, warmup, seed)
        peak = matmul_peak_flops()
        torch.set_num_threads(1)   # inference as the evaluation workers run it
        lat = inference_latency(latency_reps, seed=seed)
    finally:
        torch.set_num_threads(old_threads)
    achieved = res["mn"]["flops"] / res["mn"]["step_s"]
    return {
        "step_s_au": res["au"]["step_s"], "step_s_ee": res["ee"]["step_s"],
        "step_s_mn": res["mn"]["step_s"],
        "mn_overhead_ratio": res["mn"]["step_s"] / (res["au"]["step_s"] + res["ee"]["step_s"]),
        **lat,
        "train_flops_fraction_of_peak": achieved / peak,
        "train_gflops_per_s_mn": achieved / 1e9, "peak_matmul_gflops_per_s": peak / 1e9,
        "train_gflop_per_step_au": res["au"]["flops"] / 1e9,
        "train_gflop_per_step_ee": res["ee"]["flops"] / 1e9,
        "train_gflop_per_step_mn": res["mn"]["flops"] / 1e9,
        "batch_size": bs, "threads": threads, "steps_timed": steps,
    }


def format_report(r: dict) -> str:
    return "\n".join([
        f"tiny configs, batch {r['batch_size']}, {r['threads']} training threads (inference: 1), "
        f"median of {r['steps_timed']} steps, synthetic data",
        f"step time au                 : {r['step_s_au'] * 1000:8.1f} ms",
        f"step time ee                 : {r['step_s_ee'] * 1000:8.1f} ms",
        f"step time mn                 : {r['step_s_mn'] * 1000:8.1f} ms",
        f"mn / (au + ee)               : {r['mn_overhead_ratio']:8.3f}   (goal <= 1.05)",
        f"policy latency per keyframe  : {r['policy_latency_ms_p50']:8.1f} ms p50, "
        f"{r['policy_latency_ms_p95']:.1f} ms p95",
        f"recognizer latency per clip  : {r['recognizer_latency_ms_p50']:8.1f} ms p50, "
        f"{r['recognizer_latency_ms_p95']:.1f} ms p95",
        f"mn step FLOP/s               : {r['train_gflops_per_s_mn']:8.2f} GFLOP/s "
        f"({r['train_gflop_per_step_mn']:.2f} GFLOP per step)",
        f"dense matmul peak            : {r['peak_matmul_gflops_per_s']:8.2f} GFLOP/s",
        f"fraction of peak             : {r['train_flops_fraction_of_peak']:8.3f}",
    ])


if __name__ == "__main__":
    print(format_report(run_bench()))
