"""ament_python package for mn: installs with pip into a venv or with colcon on a ROS 2 install."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mn_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["mn_ros", "mn_ros.*", "mn_models", "mn_models.*",
                                    "mn_sim", "mn_sim.*"]),
    package_data={"mn_sim": ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config/ros", glob("config/ros/*.yaml")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
    ],
    # Runtime dependencies are pinned in requirements.txt (scripts/setup.sh installs them);
    # on a ROS 2 install rclpy and the messages come from ROS itself.
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=True,
    maintainer="mn developers",
    description="Mirror-neuron ROS 2 manipulation stack (recognizer, policy, alignment, sim)",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "mn = mn_ros.cli:main",
            "sim_node = mn_ros.sim_node:main",
            "policy_node = mn_ros.policy_node:main",
            "observer_node = mn_ros.observer_node:main",
            "mirror_node = mn_ros.mirror_node:main",
            "player_node = mn_ros.player_node:main",
            "recorder_node = mn_ros.recorder_node:main",
        ],
    },
)
