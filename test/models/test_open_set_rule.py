"""The open-set rule's arithmetic and its sidecar (mn_models/eval/open_set.py), on known
numbers; test/ros/test_open_set.py runs it on a trained recognizer and real videos."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mn_models.eval import open_set as os_


def test_youden_threshold_separates_and_sits_between_scores():
    known, unknown = np.array([0.8, 0.9, 0.7]), np.array([0.1, 0.3, 0.2])
    t = os_.youden_threshold(known, unknown)
    assert 0.3 < t < 0.7 and t == pytest.approx(0.5)
    assert os_.auroc(known, unknown) == 1.0
    assert os_.auroc(unknown, known) == 0.0
    with pytest.raises(os_.OpenSetError, match="both kinds"):
        os_.auroc(known, [])


def test_calibrate_keeps_the_statistic_with_the_best_val_auroc():
    rng = np.random.default_rng(0)
    known = {"top1": rng.normal(0.6, 0.1, 40), "margin": rng.normal(1.0, 0.1, 40),
             "proto": rng.normal(0.5, 0.1, 40), "gauss": np.full(40, np.nan)}
    unknown = {"top1": rng.normal(0.6, 0.1, 50), "margin": rng.normal(0.0, 0.1, 50),
               "proto": rng.normal(0.45, 0.1, 50), "gauss": np.full(50, np.nan)}
    rule = os_.calibrate(known, unknown, details={"data": "d"})
    assert rule.statistic == "margin" and 0.2 < rule.threshold < 0.8
    assert set(rule.calibration["per_statistic"]) == {"top1", "margin", "proto"}   # gauss: NaN
    assert rule.calibration["val_accept_known"] == 1.0 and rule.calibration["data"] == "d"
    assert rule.accepts({"margin": 0.9}) and not rule.accepts({"margin": 0.1})


def test_statistics_of_a_clip():
    scores = torch.tensor([[0.7, 0.2, 0.5]])
    u = torch.tensor([[3.0, 4.0]])
    ref = os_.Reference(torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                        (torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)))
    s = os_.clip_statistics(scores, u, ref)
    assert s["top1"][0] == pytest.approx(0.7) and s["margin"][0] == pytest.approx(0.2)
    assert s["proto"][0] == pytest.approx(0.8)          # cos((3, 4), (0, 1))
    assert s["gauss"][0] == pytest.approx(-25.0)        # -|u - 0|^2 with identity precision
    mu, prec = os_.fit_gauss(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]),
                             ridge=0.0)
    assert torch.allclose(mu, torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(prec, torch.diag(torch.tensor([2.0, 0.5], dtype=torch.float64)))


def test_sidecar_is_written_atomically_and_bad_ones_are_refused(tmp_path):
    rule = os_.OpenSetRule("gauss", -3.5, gauss_mean=[0.0, 1.0],
                           gauss_precision=[[1.0, 0.0], [0.0, 1.0]], calibration={"split": "val"})
    path = os_.save_rule(tmp_path, rule)
    assert path == tmp_path / "open_set.json" and not list(tmp_path.glob(".*"))
    again = os_.load_rule(tmp_path)
    assert again == rule and os_.load_rule(tmp_path / "none") is None
    path.write_text("{not json")
    with pytest.raises(os_.OpenSetError, match="run `mn calibrate` again"):
        os_.load_rule(tmp_path)
    path.write_text(json.dumps({**json.loads(json.dumps(rule.__dict__)), "gauss_precision": []}))
    with pytest.raises(os_.OpenSetError, match="stores no reference videos"):
        os_.load_rule(tmp_path)
    path.write_text(json.dumps({**rule.__dict__, "statistic": "magic"}))
    with pytest.raises(os_.OpenSetError, match="statistic 'magic'"):
        os_.load_rule(tmp_path)


def test_none_is_the_same_word_on_both_sides():
    from mn_ros import topics as T
    assert os_.NONE_LABEL == T.NONE == "none"
