"""ROS 2 side of mn: nodes, message conversions (ROS-free), bring-up and the `mn` CLI."""
