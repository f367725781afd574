"""The batch-size sweep report reads real run folders (metrics.jsonl + eval results) and
ranks settings by rollout success with CIs over training seeds when there are several."""
import json

import pytest

from mn_models import sweep_report


def _run(root, bs, lr, seed, success, losses):
    run = root / f"ee_b{bs}_lr{lr}_s{seed}"
    (run / "eval_ee").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"step": i + 1, "loss": v, "elapsed_s": 0.5 * (i + 1)}) + "\n"
        for i, v in enumerate(losses)))
    (run / "eval_ee" / "results.json").write_text(json.dumps(
        {"success_rate": sum(success) / len(success),
         "per_seed": {str(k): {"success_rate": v} for k, v in enumerate(success)}}))


def test_sweep_report_summarizes_settings(tmp_path):
    _run(tmp_path, 4, "1e-3", 0, [0.5, 0.25, 0.75], [9.0, 5.0, 4.0, 3.0])
    _run(tmp_path, 4, "1e-3", 1, [0.25, 0.25, 0.25], [9.0, 6.0, 5.0, 4.0])
    _run(tmp_path, 16, "1e-3", 0, [0.0, 0.5, 0.25], [9.0, 8.0])
    (tmp_path / "ee_b8_lr1e-3_s0").mkdir()              # not evaluated yet: ignored
    assert sweep_report.main([str(tmp_path)]) == 0
    out = json.loads((tmp_path / "sweep.json").read_text())
    b4, b16 = out["settings"]
    assert (b4["batch_size"], b4["training_seeds"], b4["ci_over"]) == (4, 2, "training seeds")
    assert abs(b4["success_rate"] - (0.5 + 0.25) / 2) < 1e-9
    # 95% t-interval over the 2 training seeds: t(0.975, 1) = 12.7062 x sd 0.1768 / sqrt(2)
    assert b4["success_rate_ci95"] == pytest.approx(12.7062 * 0.125, rel=1e-4)
    assert b4["samples"] == 16 and b4["train_s"] == 2.0
    assert (b16["training_seeds"], b16["ci_over"], b16["samples"]) == (1, "evaluation seeds", 32)
    assert "| 16 | 0.001 | 2 | 32 |" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    assert sweep_report.main([str(tmp_path / "ee_b8_lr1e-3_s0")]) == 1
