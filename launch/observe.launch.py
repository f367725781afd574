"""ros2 launch mn_ros observe.launch.py [checkpoint:=<run folder>] [namespace:=mn] ...

Starts the 'observe' profile of mn_ros/graph.py (the same nodes, parameter files and arguments as
`mn bringup observe`); `ros2 launch mn_ros observe.launch.py --show-args` lists the arguments.
"""
from mn_ros.graph import launch_description


def generate_launch_description():
    return launch_description("observe")
