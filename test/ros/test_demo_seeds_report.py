"""The table of `scripts/demo_seeds.sh` is read from the runs' summary.json files."""
import json

from mn_ros import demo_seeds_report


def _summary(root, seed, correct, success, reason=""):
    run = root / f"s{seed}"
    run.mkdir()
    shown = "open the bottom drawer"
    (run / "summary.json").write_text(json.dumps({
        "shown": {"instruction": shown},
        "recognized": {"instruction": shown if correct else "turn left tap",
                       "correct": correct},
        "executed": {"instruction": shown if correct else "turn left tap", "steps": 3,
                     "failure_reason": reason},
        "success": success, "alignment": {"cosine": 0.5, "match": True},
        "checkpoint": {"step": 900}, "seconds": {"collect": 10.0}}))
    (run / "wall_s").write_text("200")


def test_demo_seeds_table(tmp_path):
    _summary(tmp_path, 0, True, True)
    _summary(tmp_path, 10, True, False, "step limit")
    _summary(tmp_path, 2, False, False, "ik: unreachable")
    assert demo_seeds_report.main([str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "demo_seeds.json").read_text())
    assert [r["seed"] for r in rows] == [0, 2, 10]          # numeric order
    md = (tmp_path / "demo_seeds.md").read_text()
    assert "recognized correctly 2/3, success 1/3" in md
    assert "turn left tap (wrong)" in md and "no: step limit" in md
