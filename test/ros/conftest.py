"""Fixtures of the ROS tests (helpers are in ros_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ros_helpers import train_tiny_checkpoints


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """mn / au / ee checkpoints of tiny models trained 2 steps, and a truncated mn copy."""
    return train_tiny_checkpoints(tmp_path_factory.mktemp("ckpt"))
