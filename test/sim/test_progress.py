"""One progress mechanism for all long work (mn_sim/progress.py)."""
import io

from mn_sim.progress import Progress, fmt_time


def test_lines_show_count_rate_elapsed_and_eta(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("mn_sim.progress.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    p = Progress("mn collect", 4, "episodes", every_s=10.0, stream=out, per="min")
    clock[0] += 30.0
    p.update()                                   # 1 in 30 s: 2/min, 3 left -> 1m30s
    clock[0] += 1.0
    p.update(ok=False)                           # within every_s: no line
    clock[0] += 29.0
    p.update(extra="open_drawer")                # 2 in 60 s, 1 left
    lines = out.getvalue().splitlines()
    assert lines == [
        "[mn collect] 1/4 episodes, 2.00/min, elapsed 0m30s, ETA 1m30s",
        "[mn collect] 2/4 episodes, 1 failed, open_drawer, 2.00/min, elapsed 1m00s, ETA 0m30s"]
    clock[0] += 1.0
    p.update(quiet=True)                         # the last one always prints unless quiet
    assert len(out.getvalue().splitlines()) == 2


def test_a_resumed_run_counts_its_rate_from_where_it_started(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("mn_sim.progress.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    p = Progress("mn train mn", 1200, "steps", stream=out, start=1000)
    clock[0] += 10.0
    p.update(n=100, extra="loss 0.5000", force=True)
    assert out.getvalue().strip() == (
        "[mn train mn] 1100/1200 steps, loss 0.5000, 10.00/s, elapsed 0m10s, ETA 0m10s")
    assert fmt_time(3725) == "1h02m05s"


def test_map_jobs_runs_in_process_and_in_a_spawn_pool():
    from mn_sim.progress import map_jobs
    for workers in (1, 2):
        got = []
        map_jobs(abs, [-1, -2, -3], workers, got.append)
        assert sorted(got) == [1, 2, 3], workers
