"""The study's report (mn_models/eval/study.py): paired differences per seed, and the README's
study tables are exactly what the committed result files say."""
import json
import re
from pathlib import Path

import pytest

from mn_models.eval import study

ROOT = Path(__file__).resolve().parents[2]


def _write(folder: Path, seed: int, name: str, payload: dict) -> None:
    d = folder / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(payload))


def test_paired_difference_is_taken_per_seed(tmp_path):
    # seed 0: au 0.5 -> mn 0.7 (+0.2); seed 1: au 0.9 -> mn 0.8 (-0.1); seed 2: only au (unpaired)
    for s, au, mn in ((0, 0.5, 0.7), (1, 0.9, 0.8)):
        _write(tmp_path, s, "recognition_au", {"accuracy": au, "per_task": {"t": au}})
        _write(tmp_path, s, "recognition_mn", {"accuracy": mn, "per_task": {"t": mn}})
    _write(tmp_path, 2, "recognition_au", {"accuracy": 0.0, "per_task": {"t": 0.0}})
    md, summary = study.build(tmp_path)
    t1 = summary["table1"]
    assert t1["seeds"] == [0, 1]                        # seed 2 has no mn: left out
    avg = t1["rows"]["Avg."]
    assert avg["diff"] == pytest.approx([0.2, -0.1])
    assert avg["diff_mean_ci"][0] == pytest.approx(0.05)
    assert avg["base_mean_ci"][0] == pytest.approx(0.7)  # not 0.467: the unpaired seed is out
    # t(0.975, 1) * sd / sqrt(2) with sd = 0.2121: 12.706 * 0.15 = 1.906
    assert avg["diff_mean_ci"][1] == pytest.approx(1.906, abs=1e-3)
    assert "| **Avg.** | 70.0 ± " in md["table1"] and "+5.0 ± 190.6" in md["table1"]
    assert summary["table2"] == {"seeds": []}


def test_readme_blocks_are_replaced_and_others_kept(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- study:table1 -->\nold\n<!-- /study:table1 -->\n"
                      "<!-- study:unknown -->\nkeep\n<!-- /study:unknown -->\nend\n")
    study.update_readme(readme, {"table1": "new table\n"})
    text = readme.read_text()
    assert study.readme_blocks(text) == {"table1": "new table\n", "unknown": "keep\n"}
    assert text.startswith("intro\n") and text.endswith("end\n")


def test_readme_study_tables_match_the_committed_results():
    """Every study number in the README is the committed result files' (docs/results/study)."""
    results = ROOT / "docs" / "results" / "study"
    blocks = study.readme_blocks((ROOT / "README.md").read_text())
    assert blocks, "README has no <!-- study:... --> blocks"
    md, _ = study.build(results)
    for name, text in blocks.items():
        assert text == md[name], (
            f"README block {name!r} differs from {results}; run "
            "`bash scripts/experiment.sh report` (it rewrites the README blocks)")


def _write_ablation(folder: Path, row: str, seed: int, au: float, ee: float) -> None:
    d = folder / "ablation" / f"{row}_s{seed}"
    d.mkdir(parents=True)
    (d / "recognition.json").write_text(json.dumps({"accuracy": au}))
    (d / "execution.json").write_text(json.dumps({"success_rate": ee}))


def test_ablation_rows_average_their_seeds_beside_the_papers_numbers(tmp_path):
    for s, au, ee in ((0, 0.4, 0.2), (1, 0.6, 0.4)):
        _write_ablation(tmp_path, "tau_0.2", s, au, ee)
    md, summary = study.build(tmp_path)
    r = summary["table3"]["tau_0.2"]
    assert (r["au"], r["ee"], r["seeds"]) == ([0.4, 0.6], [0.2, 0.4], [0, 1])
    assert r["au_diff"] == []                           # no default-row runs to compare with
    row = next(line for line in md["table3"].splitlines() if "τ 0.2" in line)
    assert row.startswith("| by instruction, τ 0.2 | 50.0 ± ") and "77.1 / 87.0" in row


def test_observation2_compares_success_and_failure_per_seed_and_above_chance(tmp_path):
    for s, (su, suc, fa, fac) in enumerate(((0.5, 0.1, 0.2, 0.05), (0.3, 0.1, 0.3, 0.02))):
        _write(tmp_path, s, "probe_success_split", {"success_split": {
            "samples_per_subset": 10, "episodes": {"success": 3, "failure": 7},
            "success": {"recall_at_1": su, "chance": suc},
            "failure": {"recall_at_1": fa, "chance": fac}}})
    _write(tmp_path, 2, "probe_success_split", {"success_split": {   # no success: left out
        "samples_per_subset": 0, "episodes": {"success": 0, "failure": 9},
        "success": {"recall_at_1": None, "chance": None},
        "failure": {"recall_at_1": 0.4, "chance": 0.1}}})
    md, summary = study.build(tmp_path)
    ob = summary["observation2"]
    assert ob["seeds"] == [0, 1]
    assert [r["diff"] for r in ob["per_seed"]] == pytest.approx([0.3, 0.0])
    # above chance: (0.5 - 0.1) - (0.2 - 0.05) = 0.25; (0.3 - 0.1) - (0.3 - 0.02) = -0.08
    assert [r["diff_above_chance"] for r in ob["per_seed"]] == pytest.approx([0.25, -0.08])
    assert ob["diff_above_chance_mean_ci"][0] == pytest.approx(0.085)
    assert "| 1 | 3 / 7 | 10 | 0.300 (0.100) | 0.300 (0.020) | +0.000 | -0.080 |" in \
        md["observation2"]


def test_curve_averages_each_step_over_the_seeds_that_have_it(tmp_path):
    _write(tmp_path, 0, "curve_recognition", {
        "au": [{"step": 3000, "accuracy": 0.2}, {"step": 4000, "accuracy": 0.4}],
        "mn": [{"step": 4000, "accuracy": 0.1}]})
    _write(tmp_path, 1, "curve_recognition", {
        "au": [{"step": 500, "accuracy": 0.05}, {"step": 4000, "accuracy": 0.6}],
        "mn": [{"step": 500, "accuracy": 0.02}, {"step": 4000, "accuracy": 0.3}]})
    md, summary = study.build(tmp_path)
    cur = summary["curve"]
    assert cur["seeds"] == [0, 1] and list(cur["au"]) == [500, 3000, 4000]
    assert cur["au"][4000][0] == pytest.approx(0.5) and cur["au"][4000][2] == 2
    assert cur["mn"][4000][0] == pytest.approx(0.2) and cur["au"][500][2] == 1
    assert "| 500 | 5.0 | 2.0 | 1 |" in md["curve"]
    assert "| 3000 | 20.0 |  | 1 |" in md["curve"]
    # the figure is written from the same summary
    for m in ("au", "mn"):
        (tmp_path / "seed0" / f"train_{m}.jsonl").write_text("\n".join(
            json.dumps({"step": i, "recognizer/loss": 3.0 - i / 100}) for i in range(0, 200, 50)))
    study.report(tmp_path)
    assert (tmp_path / "recognition_vs_step.png").stat().st_size > 1000


def test_longer_schedule_is_its_own_table_under_the_curve(tmp_path):
    _write(tmp_path, 1, "curve_recognition", {
        "au": [{"step": 4000, "accuracy": 0.25}], "mn": [{"step": 4000, "accuracy": 0.2}]})
    md, summary = study.build(tmp_path)
    assert summary["curve_long"] == {"seeds": []} and "longer schedule" not in md["curve"]
    _write(tmp_path, 1, "curve_long_recognition", {
        "au": [{"step": 4000, "accuracy": 0.3}, {"step": 8000, "accuracy": 0.35}],
        "mn": [{"step": 4000, "accuracy": 0.1}, {"step": 8000, "accuracy": 0.4}]})
    md, summary = study.build(tmp_path)
    # the 4000-step row of the longer run does not mix with the 4000-step run's
    assert summary["curve"]["au"][4000][0] == pytest.approx(0.25)
    assert summary["curve_long"]["au"][4000][0] == pytest.approx(0.3)
    first, long = md["curve"].split("A longer schedule")
    assert "| 4000 | 25.0 | 20.0 | 1 |" in first and "8000" not in first
    assert "for 8000 steps" in long and "| 8000 | 35.0 | 40.0 | 1 |" in long
    study.report(tmp_path)
    assert (tmp_path / "recognition_vs_step.png").stat().st_size > 1000


def test_headline_verdicts_follow_the_ci_over_seeds(tmp_path):
    assert study.verdict([0.1, 0.12, 0.11]) == "holds"
    assert study.verdict([-0.1, -0.12, -0.11]) == "reversed"
    assert study.verdict([0.1, -0.1, 0.05]) == "not shown (CI contains it)"
    assert study.verdict([0.3]) == "one seed: no verdict"
    assert study.verdict([0.7, 0.72, 0.71], null=0.5) == "holds"
    for s, au, mn in ((0, 0.5, 0.6), (1, 0.4, 0.52), (2, 0.3, 0.41)):
        _write(tmp_path, s, "recognition_au", {"accuracy": au, "per_task": {"t": au}})
        _write(tmp_path, s, "recognition_mn", {"accuracy": mn, "per_task": {"t": mn}})
        _write(tmp_path, s, "probe", {"recall_at_1": 0.2, "chance": 0.02})
        _write(tmp_path, s, "probe_shuffled", {"recall_at_1": 0.02 + 0.01 * s, "chance": 0.02})
    md, summary = study.build(tmp_path)
    rows = {r["claim"]: r for r in summary["headline"]}
    rec = rows["(3) joint training improves recognition"]
    assert rec["values"] == pytest.approx([0.1, 0.12, 0.11]) and rec["verdict"] == "holds"
    assert rec["cell"].startswith("+11.0 ± ")
    ali = rows["(1) separately trained models are already aligned"]
    assert ali["values"] == pytest.approx([0.18, 0.17, 0.16]) and ali["seeds"] == [0, 1, 2]
    assert "| (3) joint training improves recognition | mn − au" in md["headline"]
    assert "(3) joint training improves execution" not in rows     # no execution results


def _ablation_rows() -> dict[str, str]:
    text = (ROOT / "scripts" / "experiment.sh").read_text()
    block = text[text.index("declare -A ABLATION=("):]
    block = block[:block.index("\n)")]
    return dict(re.findall(r'\[(\S+)\]="([^"]*)"', block))


def test_experiment_rows_are_the_reports_and_the_default_row_is_the_preset():
    from mn_models.train_config import load_train_config
    rows = _ablation_rows()
    assert set(rows) == set(study.ABLATIONS)
    # experiment.sh evaluates the seed stage's mn run for this row instead of training it
    # again: valid only while its overrides leave tiny_mn.yaml as it is
    text = (ROOT / "scripts" / "experiment.sh").read_text()
    default = re.search(r"^DEFAULT_ROW=(\S+)", text, re.M).group(1)
    assert default == study.DEFAULT_ABLATION   # the row the report compares the others with
    preset = ROOT / "config" / "train" / "tiny_mn.yaml"
    assert load_train_config(str(preset), rows[default].split()) == load_train_config(str(preset))
    for row, ov in rows.items():
        if row != default:
            assert load_train_config(str(preset), ov.split()) != load_train_config(str(preset)), row


def test_ablation_rows_are_compared_with_the_default_row_on_the_same_seeds(tmp_path):
    rows = {"pairs_instruction": {0: (0.30, 0.10), 1: (0.20, 0.20)},   # the default row
            "lambda_0.1": {0: (0.40, 0.10), 1: (0.20, 0.40), 2: (0.90, 0.90)}}
    for row, seeds in rows.items():
        for s, (au, ee) in seeds.items():
            _write_ablation(tmp_path, row, s, au, ee)
    md, summary = study.build(tmp_path)
    r = summary["table3"]["lambda_0.1"]
    assert r["au_diff"] == pytest.approx([0.1, 0.0]) and r["au_diff_seeds"] == [0, 1]
    assert r["ee_diff"] == pytest.approx([0.0, 0.2])     # seed 2 has no default run: left out
    assert summary["table3"]["pairs_instruction"]["au_diff"] == []
    line = next(x for x in md["table3"].splitlines() if x.startswith("| λ_align 0.1"))
    # +5.0 ± t(0.975, 1) * 0.0707 / sqrt(2) * 100 = 63.5
    assert "| +5.0 ± 63.5 (n=2) | +10.0 ± 127.1 (n=2) |" in line, line
    default = next(x for x in md["table3"].splitlines() if "(default)" in x)
    assert "| — | — |" in default


def _write_size(folder: Path, seed: int, preset: str, au: float, ee: float, minutes=(10, 20)):
    """A seed stage's tiny au/ee results (preset tiny) or a size stage's small ones."""
    d = folder / (f"seed{seed}" if preset == "tiny" else f"size/small_s{seed}")
    d.mkdir(parents=True, exist_ok=True)
    names = (("recognition_au", "execution_ee") if preset == "tiny" else
             ("recognition", "execution"))
    (d / f"{names[0]}.json").write_text(json.dumps({"accuracy": au, "per_task": {"t": au}}))
    (d / f"{names[1]}.json").write_text(json.dumps({"success_rate": ee, "per_task": {"t": ee}}))
    for m, mins in zip(("au", "ee"), minutes):
        (d / f"train_{m}.jsonl").write_text(
            "\n".join(json.dumps({"step": s, "elapsed_s": mins * 60 * s / 4000})
                      for s in (1, 2000, 4000)) + "\n")


def test_model_size_pairs_small_with_tiny_on_the_same_seeds(tmp_path):
    _write_size(tmp_path, 0, "tiny", 0.30, 0.10)
    _write_size(tmp_path, 1, "tiny", 0.20, 0.14)            # no small run on seed 1: left out
    _write_size(tmp_path, 0, "small", 0.25, 0.12, minutes=(25, 50))
    (tmp_path / "size/small_s0/weights.json").write_text(json.dumps(
        {"tiny_au": {"parameters": 3_389_697}, "small_au": {"parameters": 7_585_537},
         "tiny_ee": {"parameters": 4_839_549}, "small_ee": {"parameters": 14_908_381}}))
    md, summary = study.build(tmp_path)
    size = summary["size"]
    assert size["seeds"] == [0]
    assert (size["tiny"]["au"], size["small"]["ee"]) == ([0.30], [0.12])
    assert size["small"]["au_min"] == [25.0] and size["tiny"]["ee_min"] == [20.0]
    assert size["diff"]["au"] == pytest.approx([-0.05])
    lines = md["size"].splitlines()
    assert lines[2] == "| tiny | 3.4M / 4.8M | 10.0 / 20.0 | 30.0 | 10.0 |"
    assert lines[3] == "| small | 7.6M / 14.9M | 25.0 / 50.0 | 25.0 | 12.0 |"
    assert lines[4] == "| small − tiny (paired per seed) | | | -5.0 | +2.0 |"
    assert study.build(tmp_path / "none")[0]["size"].startswith("_no model-size results")


def test_small_presets_sit_between_tiny_and_the_published_sizes_on_tinys_inputs():
    from mn_models.policy.arp import make_policy, view_cache_settings
    from mn_models.policy.config import make_policy_config
    from mn_models.recognizer.config import make_recognizer_config
    from mn_models.recognizer.model import Recognizer

    def n(m):
        return sum(p.numel() for p in m.parameters())
    rec = [n(Recognizer(make_recognizer_config(p, image_size=64))) for p in ("tiny", "small")]
    pol = [n(make_policy(p)) for p in ("tiny", "small")]
    assert 1.5 * rec[0] < rec[1] < 149e6 and 1.5 * pol[0] < pol[1] < 72e6, (rec, pol)
    # the small policy renders the same views as tiny: the training view cache is shared
    assert (view_cache_settings(make_policy_config("small"))
            == view_cache_settings(make_policy_config("tiny")))


def test_size_stage_runs_train_small_presets_and_weights_counts_them(tiny_dataset, tmp_path):
    """The size stage's path: `mn train` with recognizer=small / policy=small overrides on the
    tiny configs, and `study weights` reading the parameters back from the checkpoints."""
    from mn_models.train_config import load_train_config
    from mn_models.trainer import Trainer
    for mode, preset in (("au", "recognizer=small"), ("ee", "policy=small")):
        cfg = load_train_config(str(ROOT / "config" / "train" / f"tiny_{mode}.yaml"),
                                [f"data={tiny_dataset}", "threads=1", "steps=1", "ckpt_every=1",
                                 "batch_size=2", "val_fraction=0.25", preset])
        Trainer(cfg, tmp_path / mode).train()
    w = study.model_weights(au=tmp_path / "au", ee=tmp_path / "ee")
    assert (w["au"]["preset"], w["au"]["module"], w["ee"]["preset"]) == ("small", "recognizer",
                                                                         "small")
    assert w["au"]["parameters"] > 7e6 and w["ee"]["parameters"] > 14e6
    with pytest.raises(SystemExit):
        study.main(["weights", str(tmp_path / "au")])         # not NAME=RUN: a usage error


def test_observation1_per_task_pairs_the_probe_with_its_shuffled_control(tmp_path):
    for s, (a, b) in enumerate(((0.4, 0.1), (0.6, 0.3))):
        _write(tmp_path, s, "probe", {"recall_at_1": (a + b) / 2, "chance": 0.02,
                                      "per_task": {"x": a, "y": b},
                                      "per_task_chance": {"x": 0.05, "y": 0.01}})
        _write(tmp_path, s, "probe_shuffled", {"recall_at_1": 0.02, "chance": 0.02,
                                               "per_task": {"x": 0.05, "y": 0.01},
                                               "aligned_per_task": {"x": a, "y": b}})
        _write(tmp_path, s, "alignment_mn", {"recall_at_1": 0.5, "chance": 0.02,
                                             "per_task": {"x": 0.7, "y": 0.2}})
    # seed 2's shuffled file predates the per-task control (its per_task is the aligned one)
    _write(tmp_path, 2, "probe", {"recall_at_1": 0.9, "chance": 0.02, "per_task": {"x": 0.9}})
    _write(tmp_path, 2, "probe_shuffled", {"recall_at_1": 0.02, "chance": 0.02,
                                           "per_task": {"x": 0.9}})
    md, summary = study.build(tmp_path)
    ob1 = summary["observation1"]
    assert ob1["seeds"] == [0, 1]
    x = ob1["rows"]["x"]
    assert x["probe"] == [0.4, 0.6] and x["diff"] == pytest.approx([0.35, 0.55])
    assert x["chance"] == [0.05, 0.05] and x["mn"] == [0.7, 0.7]
    row = next(line for line in md["observation1"].splitlines() if line.startswith("| x |"))
    assert row.startswith("| x | 0.500 ± ") and "| +0.450 ± " in row
    assert "| **all tasks** | 0.350 ± " in md["observation1"]


def test_datasize_rows_pair_au_and_mn_per_seed_beside_the_full_data(tmp_path):
    for k, s, au, mn in ((10, 1, 0.10, 0.14), (10, 2, 0.12, 0.12), (20, 1, 0.20, 0.18)):
        d = tmp_path / "datasize" / f"k{k}_s{s}"
        d.mkdir(parents=True)
        (d / "recognition_au.json").write_text(json.dumps({"accuracy": au}))
        (d / "recognition_mn.json").write_text(json.dumps({"accuracy": mn}))
    (tmp_path / "datasize" / "k40_s1").mkdir()          # not evaluated yet: no row
    for s, au, mn in ((0, 0.9, 0.9), (1, 0.30, 0.28), (2, 0.26, 0.24)):
        _write(tmp_path, s, "recognition_au", {"accuracy": au, "per_task": {"t": au}})
        _write(tmp_path, s, "recognition_mn", {"accuracy": mn, "per_task": {"t": mn}})
    (tmp_path / "data.json").write_text(json.dumps({"tasks": {
        "a": {"episodes": 50, "val": 7}, "b": {"episodes": 50, "val": 15}}}))
    md, summary = study.build(tmp_path)
    rows = summary["datasize"]["rows"]
    assert list(rows) == ["10", "20", "all (35–43)"]
    assert rows["10"]["diff"] == pytest.approx([0.04, 0.0]) and rows["20"]["seeds"] == [1]
    assert rows["all (35–43)"]["seeds"] == [1, 2]       # seed 0 has no data-size run
    assert "| 10 | 11.0 ± " in md["datasize"] and "| +2.0 ± " in md["datasize"]
