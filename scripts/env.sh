# Sourced by the scripts: the environment mn runs in on this machine.
# The same defaults as mn_ros/environment.py (DEFAULTS), which `mn` applies itself at start-up;
# keep the two equal (`python -m mn_ros.environment` prints these lines; a test compares them).
# A value already set (non-empty) is kept.
export MUJOCO_GL="${MUJOCO_GL:-egl}"  # headless rendering (no display needed)
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"  # PyOpenGL on the same EGL platform as MuJoCo
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"  # ROS 2 discovery stays on this machine
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-UDPv4}"  # Fast DDS over UDP only (no shared-memory transport)
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"  # no network at run time (Hugging Face Hub)
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"  # no network at run time (transformers)
