"""Evaluations of trained checkpoints (what `mn eval ...` runs), each ROS-free:

    recognition.py  au: top-1 instruction recognition per task (paper Table 1)
    rollout.py      ee: policy rollouts in mn_sim, success rate per task (paper Table 2)
    probe.py        probe: alignment Recall@1 on held-out pairs, shuffled control, series over a
                    run's checkpoints (Fig. 3 left), success vs failure subsets (Fig. 3 right),
                    t-SNE of the shared space (Fig. 6)
    tsne.py         t-SNE (scikit-learn's exact TSNE, input checks)
    stats.py        mean +- 95% confidence interval over seeds (Student t, SciPy)
    report.py       output folders, markdown tables, atomic JSON/markdown writes
"""
