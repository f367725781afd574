"""ros2 launch mn_ros sim.launch.py [checkpoint:=<run folder>] [namespace:=mn] ...

Starts the 'sim' profile of mn_ros/graph.py (the same nodes, parameter files and arguments as
`mn bringup sim`); `ros2 launch mn_ros sim.launch.py --show-args` lists the arguments.
"""
from mn_ros.graph import launch_description


def generate_launch_description():
    return launch_description("sim")
