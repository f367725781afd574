"""RLBench tasks re-created in MuJoCo, one file per task (see base.py for the contract)."""
