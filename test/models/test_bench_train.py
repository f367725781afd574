"""`mn bench train`: step times, latencies and FLOP/s of the tiny configs, measured for real."""
import json

import pytest
import torch

from mn_models.bench_train import build_model, synthetic_batches, tiny_config
from mn_models.policy import constants as K
from mn_ros.cli import main

KEYS = {"step_s_au", "step_s_ee", "step_s_mn", "mn_overhead_ratio", "policy_latency_ms_p50",
        "recognizer_latency_ms_p50", "train_flops_fraction_of_peak", "samples_per_s_ee",
        "samples_per_s_mn", "policy_latency_ms_p50_arp", "policy_latency_ms_p50_arp_2t",
        "policy_latency_ms_p50_baseline", "speedup_samples_per_s_ee", "speedup_samples_per_s_mn",
        "baseline_samples_per_s_ee", "baseline_samples_per_s_mn",
        "train_flops_fraction_of_peak_ee"}
STAGES = {"cloud fusion + cropping", "virtual-view rendering", "instruction encoder", "MVT",
          "heatmaps + 3D fusion", "decoding (rotation, gripper, collision, e)"}


@pytest.mark.slow
def test_synthetic_batches_pair_rows_like_mn_batch():
    cfg = tiny_config("mn", batch_size=2)
    model, rcfg, pcfg = build_model(cfg)
    au, ee = synthetic_batches(rcfg, pcfg, 2, seed=0)
    assert au["video"].shape == (2, rcfg.num_frames, rcfg.image_size, rcfg.image_size, 3)
    assert torch.equal(au["instruction_id"], ee["instruction_id"])
    assert ee[K.LANG_TOKENS].shape == (2, rcfg.context_length)
    loss, logs = model(au, ee, rcfg.num_frames)
    assert torch.isfinite(loss) and {"recognizer/loss", "policy/loss", "align/loss"} <= set(logs)


@pytest.mark.slow
def test_bench_train_json_wiring_and_flop_accounting(capsys):
    """Mostly wiring (every figure present, derived ratios built from the right fields); the
    behaviour checked is the FLOP accounting of an mn step and the ARP-size latency gap."""
    assert main(["bench", "train", "--json", "--steps", "1", "--warmup", "0",
                 "--latency-reps", "2", "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert KEYS <= set(r)
    assert all(r[k] > 0 for k in KEYS)
    # wiring: derived figures come from the fields they are named after
    assert r["mn_overhead_ratio"] == pytest.approx(
        r["step_s_mn"] / (r["step_s_au"] + r["step_s_ee"]))
    # an mn step computes what an au step and an ee step compute, plus two small projections
    both = r["train_gflop_per_step_au"] + r["train_gflop_per_step_ee"]
    assert both < r["train_gflop_per_step_mn"] < 1.02 * both
    assert r["train_flops_fraction_of_peak"] == pytest.approx(
        r["train_gflops_per_s_mn"] / r["peak_matmul_gflops_per_s"])
    assert r["policy_latency_ms_p95"] >= r["policy_latency_ms_p50"]
    # the baseline is the pre-issue step: batch 4, the policy rendering its views every step
    assert r["baseline_batch_size"] == 4
    assert r["baseline_train_flops_fraction_of_peak_ee"] > 0
    assert set(r["policy_stage_ms"]) == STAGES == set(r["policy_stage_ms_baseline"])
    # the published-size policy is far heavier than the tiny one
    assert r["policy_latency_ms_p50_arp"] > 5 * r["policy_latency_ms_p50"]


def test_bench_train_rejects_zero_steps(capsys):
    assert main(["bench", "train", "--steps", "0"]) == 2
    assert "need steps >= 1" in capsys.readouterr().err
