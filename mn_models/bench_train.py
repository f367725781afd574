"""Training and inference benchmark (`mn bench train`): numbers measured in one run on synthetic
in-memory data, each with a baseline of the pre-speed-work code (issue 9) measured in the same
run, on the same inputs and threads.

step_s_au / step_s_ee / step_s_mn   median seconds of one optimizer step (forward, backward,
                                    fused AdamW) of the tiny au, ee and mn configs at the mn
                                    config's batch size, as the trainer runs them (the policy
                                    reads pre-rendered views, as from the dataset's cache)
samples_per_s_ee / _mn              batch size / step time
baseline_*                          the same for today's step before the speed work: batch 4,
                                    the policy rendering its views from the cameras every step
                                    through the pre-issue code path (policy/baseline.py),
                                    per-tensor AdamW
speedup_samples_per_s_ee / _mn      samples_per_s / baseline samples_per_s
mn_overhead_ratio                   step_s_mn / (step_s_au + step_s_ee) (goal <= 1.05): the cost
                                    of the alignment on top of training both models
policy_latency_ms_p50/_p95          ARPPolicy.predict_action on one observation (4 cameras
                                    RGB-D at 128x128), per keyframe, 1 torch thread, tiny preset
                                    (``_baseline``: the pre-issue path; ``_arp`` / ``_arp_2t``:
                                    the published-size arp_rlbench preset on 1 / 2 threads)
policy_stage_ms(_baseline)          p50 of each stage of one tiny decision (cloud fusion and
                                    cropping, virtual-view rendering, text, MVT, heatmaps and
                                    their fusion, decoding)
recognizer_latency_ms_p50/_p95      Recognizer.recognize of one 8-frame 128x128 clip against
                                    precomputed text embeddings (preprocessing included),
                                    1 torch thread
train_flops_fraction_of_peak(_ee)   FLOPs of an mn (ee) step (torch.utils.flop_counter) / step
                                    time, over the best dense float32 matmul rate measured here
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


def build_model(cfg, baseline: bool = False):
    """MirrorModel of a mode with freshly initialized tiny modules (seeded); ``baseline``: the
    policy computes through the pre-issue-9 code path."""
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
    policy_cls = ARPPolicy
    if baseline:
        from mn_models.policy.baseline import BaselineARPPolicy as policy_cls
    pol = policy_cls(pcfg) if cfg.mode in ("ee", "mn") else None
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


def cached_views_batch(ee: dict, pcfg) -> dict:
    """The ee batch as the trainer builds it from the view cache: K.VIEWS, no camera keys."""
    from mn_models.policy import constants as K
    from mn_models.policy.arp import stage1_views
    out = {k: v for k, v in ee.items() if not any(k in K.camera_keys(c) for c in pcfg.cameras)}
    out[K.VIEWS] = stage1_views(ee, pcfg)
    return out


def time_training(modes=("au", "ee", "mn"), batch_size: int = 4, steps: int = 5,
                  warmup: int = 2, seed: int = 0, baseline_batch_size: int = 4) -> dict:
    """Median step time of each mode on synthetic batches, plus the FLOPs of one step (forward
    and backward). Runs named ``base_<mode>`` time the pre-issue step of ee and mn (batch
    ``baseline_batch_size``, cameras rendered every step, per-tensor AdamW). Steps of all runs
    are interleaved (au, ee, mn, base_ee, ..., au, ...) so that load from other processes hits
    them alike."""
    from torch.utils.flop_counter import FlopCounterMode
    runs = {}
    plan = [(m, batch_size, False) for m in modes]
    plan += [(f"base_{m}", baseline_batch_size, True) for m in modes if m in ("ee", "mn")]
    for name, bs, base in plan:
        mode = name.removeprefix("base_")
        cfg = tiny_config(mode, batch_size=bs, seed=seed)
        model, rcfg, pcfg = build_model(cfg, baseline=base)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=cfg.weight_decay,
                                **({} if base else {"fused": True}))
        batches = [synthetic_batches(rcfg, pcfg, bs, seed + k) for k in range(2)]
        if not base and not pcfg.augment and not pcfg.coarse_to_fine:
            batches = [(au, cached_views_batch(ee, pcfg)) for au, ee in batches]
        runs[name] = (cfg, model, opt, batches, rcfg.num_frames, [], bs)
    for k in range(warmup + steps):
        for name, (cfg, model, opt, batches, nf, times, bs) in runs.items():
            au, ee = batches[k % 2]
            t = time.perf_counter()
            _train_step(model, opt, au, ee, nf, cfg.grad_clip)
            if k >= warmup:
                times.append(time.perf_counter() - t)
    out = {}
    for name, (cfg, model, opt, batches, nf, times, bs) in runs.items():
        au, ee = batches[0]
        with FlopCounterMode(display=False) as fc:
            loss, _ = model(au if model.recognizer is not None else None,
                            ee if model.policy is not None else None, nf)
            loss.backward()
        opt.zero_grad(set_to_none=True)
        out[name] = {"step_s": float(np.median(times)), "flops": int(fc.get_total_flops()),
                     "batch_size": bs}
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


def _time_ms(fn, reps: int, warmup: int) -> list[float]:
    ms = []
    for k in range(warmup + reps):
        t = time.perf_counter()
        fn()
        if k >= warmup:
            ms.append(1000.0 * (time.perf_counter() - t))
    return ms


def _policy_and_batch(preset: str, seed: int, baseline: bool = False):
    from mn_models.policy import constants as K
    from mn_models.policy.arp import ARPPolicy
    from mn_models.policy.baseline import BaselineARPPolicy
    from mn_models.policy.config import make_policy_config
    from mn_models.recognizer.config import make_recognizer_config
    cfg = tiny_config("mn", seed=seed)
    torch.manual_seed(seed)
    overrides = cfg.policy_overrides if preset == cfg.policy else {}
    pol = (BaselineARPPolicy if baseline else ARPPolicy)(
        make_policy_config(preset, **overrides)).eval()
    rcfg = make_recognizer_config(cfg.recognizer, **cfg.recognizer_overrides)
    _, batch = synthetic_batches(rcfg, pol.cfg, 1, seed)
    batch.pop(K.ACTION)
    return pol, batch


@torch.no_grad()
def policy_stage_ms(policy, batch, reps: int = 10, warmup: int = 2) -> dict:
    """p50 milliseconds of each stage of one decision (works for the baseline path too)."""
    from mn_models.policy.pointcloud import fuse_heatmaps
    c = policy.cfg
    times: dict[str, list[float]] = {}

    def tm(name, fn):
        t = time.perf_counter()
        r = fn()
        times.setdefault(name, []).append(1000.0 * (time.perf_counter() - t))
        return r

    for k in range(warmup + reps):
        before = {n: len(v) for n, v in times.items()}
        B = 1
        proprio = policy._proprio(batch, B)
        cube, cols, valid, _, _ = tm("cloud fusion + cropping", lambda: policy._scene(batch))
        img = tm("virtual-view rendering", lambda: policy._render(cube, cols, valid))
        lang, lm = tm("instruction encoder", lambda: policy.encode_language(batch))
        feat = tm("MVT", lambda: policy.mvt1(img, proprio, lang, lm))

        def heat(f, stage):
            hm = policy.heatmap_logits(f, stage)
            return fuse_heatmaps(hm.flatten(-2).softmax(-1).reshape(hm.shape), c.views)
        point = tm("heatmaps + 3D fusion", lambda: heat(feat, 0))
        if c.coarse_to_fine:
            center = point
            img = tm("virtual-view rendering", lambda: policy._render(
                (cube - center[:, None]) * c.stage2_zoom, cols, valid))
            feat = tm("MVT", lambda: policy.mvt2(img, proprio, lang, lm))
            point = tm("heatmaps + 3D fusion", lambda: heat(feat, 1))

        def decode():
            return policy.decode_action(policy.prompt_features(feat, point))
        tm("decoding (rotation, gripper, collision, e)", decode)
        if k < warmup:      # drop the warm-up calls
            for n in times:
                del times[n][before.get(n, 0):]
    # a stage called twice per decision (coarse-to-fine) is summed per decision
    out = {}
    for n, v in times.items():
        per = len(v) // reps
        out[n] = float(np.median(np.array(v).reshape(reps, per).sum(1)))
    return out


@torch.no_grad()
def inference_latency(reps: int = 20, warmup: int = 2, seed: int = 0, arp: bool = True) -> dict:
    """p50/p95 latency (ms) of the tiny policy per keyframe (and of its pre-issue path and, with
    ``arp``, of the arp_rlbench preset on 1 and 2 threads) and of the tiny recognizer per clip;
    per-stage times of the tiny policy on both paths."""
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer
    cfg = tiny_config("mn", seed=seed)
    pol, batch = _policy_and_batch(cfg.policy, seed)
    base, _ = _policy_and_batch(cfg.policy, seed, baseline=True)
    base.load_state_dict(pol.state_dict())
    rec = Recognizer(make_recognizer_config(cfg.recognizer, **cfg.recognizer_overrides)).eval()
    clip = torch.randint(0, 256, (1, rec.config.num_frames, CAMERA_SIZE, CAMERA_SIZE, 3),
                         dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    text = rec.embed_text(list(INSTRUCTIONS))
    out = {}
    # interleaved, so that load from other processes hits both paths alike
    ms_new, ms_base = [], []
    for _ in range(reps + warmup):
        ms_new += _time_ms(lambda: pol.predict_action(batch), 1, 0)
        ms_base += _time_ms(lambda: base.predict_action(batch), 1, 0)
    out["policy_latency_ms_p50"], out["policy_latency_ms_p95"] = _percentiles(ms_new[warmup:])
    out["policy_latency_ms_p50_baseline"], out["policy_latency_ms_p95_baseline"] = \
        _percentiles(ms_base[warmup:])
    out["recognizer_latency_ms_p50"], out["recognizer_latency_ms_p95"] = _percentiles(
        _time_ms(lambda: rec.recognize(clip, text), reps, warmup))
    out["policy_stage_ms"] = policy_stage_ms(pol, batch)
    out["policy_stage_ms_baseline"] = policy_stage_ms(base, batch)
    if arp:
        big, big_batch = _policy_and_batch("arp_rlbench", seed)
        for threads, key in ((1, "policy_latency_ms_p50_arp"),
                             (2, "policy_latency_ms_p50_arp_2t")):
            old = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                out[key] = _percentiles(_time_ms(lambda: big.predict_action(big_batch),
                                                 max(3, reps // 4), 1))[0]
            finally:
                torch.set_num_threads(old)
    return out


def run_bench(steps: int = 5, warmup: int = 2, latency_reps: int = 20, threads: int | None = None,
              seed: int = 0, arp: bool = True) -> dict:
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
        lat = inference_latency(latency_reps, seed=seed, arp=arp)
    finally:
        torch.set_num_threads(old_threads)
    achieved = res["mn"]["flops"] / res["mn"]["step_s"]
    sps = {m: res[m]["batch_size"] / res[m]["step_s"] for m in res}
    return {
        "step_s_au": res["au"]["step_s"], "step_s_ee": res["ee"]["step_s"],
        "step_s_mn": res["mn"]["step_s"],
        "mn_overhead_ratio": res["mn"]["step_s"] / (res["au"]["step_s"] + res["ee"]["step_s"]),
        "samples_per_s_ee": sps["ee"], "samples_per_s_mn": sps["mn"],
        "baseline_step_s_ee": res["base_ee"]["step_s"],
        "baseline_step_s_mn": res["base_mn"]["step_s"],
        "baseline_samples_per_s_ee": sps["base_ee"], "baseline_samples_per_s_mn": sps["base_mn"],
        "speedup_samples_per_s_ee": sps["ee"] / sps["base_ee"],
        "speedup_samples_per_s_mn": sps["mn"] / sps["base_mn"],
        "baseline_batch_size": res["base_ee"]["batch_size"],
        **lat,
        "policy_latency_speedup":
            lat["policy_latency_ms_p50_baseline"] / lat["policy_latency_ms_p50"],
        "train_flops_fraction_of_peak": achieved / peak,
        "train_flops_fraction_of_peak_ee": res["ee"]["flops"] / res["ee"]["step_s"] / peak,
        "baseline_train_flops_fraction_of_peak_ee":
            res["base_ee"]["flops"] / res["base_ee"]["step_s"] / peak,
        "baseline_train_flops_fraction_of_peak":
            res["base_mn"]["flops"] / res["base_mn"]["step_s"] / peak,
        "train_gflops_per_s_mn": achieved / 1e9, "peak_matmul_gflops_per_s": peak / 1e9,
        "train_gflop_per_step_au": res["au"]["flops"] / 1e9,
        "train_gflop_per_step_ee": res["ee"]["flops"] / 1e9,
        "train_gflop_per_step_mn": res["mn"]["flops"] / 1e9,
        "batch_size": bs, "threads": threads, "steps_timed": steps,
    }


def format_report(r: dict) -> str:
    lines = [
        f"tiny configs, batch {r['batch_size']} (baseline: batch {r['baseline_batch_size']}, "
        f"pre-issue-9 path), {r['threads']} training threads (inference: 1), median of "
        f"{r['steps_timed']} steps, synthetic data",
        f"step time au                 : {r['step_s_au'] * 1000:8.1f} ms",
        f"step time ee                 : {r['step_s_ee'] * 1000:8.1f} ms   "
        f"(baseline {r['baseline_step_s_ee'] * 1000:.1f} ms)",
        f"step time mn                 : {r['step_s_mn'] * 1000:8.1f} ms   "
        f"(baseline {r['baseline_step_s_mn'] * 1000:.1f} ms)",
        f"samples/s ee                 : {r['samples_per_s_ee']:8.1f}      "
        f"(baseline {r['baseline_samples_per_s_ee']:.1f}, x{r['speedup_samples_per_s_ee']:.2f})",
        f"samples/s mn                 : {r['samples_per_s_mn']:8.1f}      "
        f"(baseline {r['baseline_samples_per_s_mn']:.1f}, x{r['speedup_samples_per_s_mn']:.2f})",
        f"mn / (au + ee)               : {r['mn_overhead_ratio']:8.3f}   (goal <= 1.05)",
        f"policy latency per keyframe  : {r['policy_latency_ms_p50']:8.1f} ms p50, "
        f"{r['policy_latency_ms_p95']:.1f} ms p95 (baseline "
        f"{r['policy_latency_ms_p50_baseline']:.1f} ms p50, x{r['policy_latency_speedup']:.2f})",
    ]
    if "policy_latency_ms_p50_arp" in r:
        lines.append(f"arp_rlbench latency          : {r['policy_latency_ms_p50_arp']:8.1f} ms "
                     f"p50 (1 thread), {r['policy_latency_ms_p50_arp_2t']:.1f} ms (2 threads)")
    lines += [
        f"recognizer latency per clip  : {r['recognizer_latency_ms_p50']:8.1f} ms p50, "
        f"{r['recognizer_latency_ms_p95']:.1f} ms p95",
        f"mn step FLOP/s               : {r['train_gflops_per_s_mn']:8.2f} GFLOP/s "
        f"({r['train_gflop_per_step_mn']:.2f} GFLOP per step)",
        f"dense matmul peak            : {r['peak_matmul_gflops_per_s']:8.2f} GFLOP/s",
        f"fraction of peak mn / ee     : {r['train_flops_fraction_of_peak']:8.3f} / "
        f"{r['train_flops_fraction_of_peak_ee']:.3f} (baseline "
        f"{r['baseline_train_flops_fraction_of_peak']:.3f} / "
        f"{r['baseline_train_flops_fraction_of_peak_ee']:.3f})",
        "policy decision by stage (ms p50, 1 thread)   now   baseline",
    ]
    for name, ms in r["policy_stage_ms"].items():
        lines.append(f"  {name:44s} {ms:6.2f}   {r['policy_stage_ms_baseline'].get(name, 0):6.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_report(run_bench()))
