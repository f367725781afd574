"""Topic and service names of the mn graph (relative: they resolve under the node namespace,
``/mn`` by default, so ``video`` is ``/mn/video``). ROS-free; one place for every name.

Published by the sim node, all with one header stamp per observation:
    cameras/<cam>/image        sensor_msgs/Image rgb8            (sensor-data QoS)
    cameras/<cam>/depth        sensor_msgs/Image 32FC1, metres   (sensor-data QoS)
    cameras/<cam>/camera_info  sensor_msgs/CameraInfo            (sensor-data QoS)
    cameras/<cam>/pose         geometry_msgs/PoseStamped, camera-to-world (optical frame)
    joint_states               sensor_msgs/JointState (7 arm + 2 finger joints)
    gripper_pose               geometry_msgs/PoseStamped, the gripper (TCP) in world
    gripper_state              std_msgs/Bool, True = open
    task_status                std_msgs/String JSON (latched): task, variation, instruction,
                               episode, step, done, success, failure_reason, stamp_ns,
                               rejected_commands, last_rejection {command, reason, stamp_ns}
    video                      sensor_msgs/Image rgb8: observer camera (image size, what the
                               observer watches) after each step and while the arm moves
    video/display              the same frames at 256x256, for people (display_size; 0 = off)
Commands (reliable QoS):
    target_pose                geometry_msgs/PoseStamped: next keyframe (executes on receipt)
    gripper_command            std_msgs/Bool, True = open (applies to the next target)
    ignore_collisions          std_msgs/Bool (applies to the next target)
    reset                      std_msgs/String JSON {task, variation, seed}
    instruction                std_msgs/String: what the policy should do
Embeddings and recognition:
    embedding                  std_msgs/Float32MultiArray, label '<z_u|z_e|u|e>@<source>'
    observer/instruction       std_msgs/String: the recognized instruction, or 'none'
    observer/scores            std_msgs/String JSON: top-k (instruction, score)
    mirror/similarity          std_msgs/Float32: cosine(z_u, z_e)
    mirror/similarity_episode  std_msgs/Float32: cosine(z_u, z_e averaged since the policy's
                               last instruction): the success monitor's score
    mirror/match               std_msgs/Bool: similarity >= threshold (False when unknown)
    mirror/verdict             std_msgs/String: match | mismatch | unknown (either side 'none')
Diagnostics (absolute name, every node):
    /diagnostics               diagnostic_msgs/DiagnosticArray: state, decision latency, frames
                               dropped, commands rejected and the last reason (1 Hz + on change)
Per node (private): the standard lifecycle services (~/change_state, ~/get_state,
~/get_available_states, ~/get_available_transitions) and ~/transition_event; ~/state (String,
latched: the lifecycle state, or 'failed: <why>'); sim and observer: ~/reset (Trigger).
"""
from __future__ import annotations

DEFAULT_NAMESPACE = "mn"

JOINT_STATES = "joint_states"
GRIPPER_POSE = "gripper_pose"
GRIPPER_STATE = "gripper_state"
TASK_STATUS = "task_status"
VIDEO = "video"                   # observer camera at the image size: what the observer watches
VIDEO_DISPLAY = "video/display"   # the same camera at display size, for people (demo videos)
TARGET_POSE = "target_pose"
GRIPPER_COMMAND = "gripper_command"
IGNORE_COLLISIONS = "ignore_collisions"
RESET = "reset"
INSTRUCTION = "instruction"
EMBEDDING = "embedding"
RECOGNIZED = "observer/instruction"
SCORES = "observer/scores"
SIMILARITY = "mirror/similarity"
SIMILARITY_EPISODE = "mirror/similarity_episode"
MATCH = "mirror/match"
VERDICT = "mirror/verdict"
NONE = "none"   # the observer's answer when no known instruction is carried out (open set)
STATE = "~/state"
DIAGNOSTICS = "/diagnostics"
CHANGE_STATE = "~/change_state"      # lifecycle_msgs/srv/ChangeState (standard lifecycle)
GET_STATE = "~/get_state"            # lifecycle_msgs/srv/GetState
SIM_RESET_SERVICE = "~/reset"


def camera_image(cam: str) -> str:
    return f"cameras/{cam}/image"


def camera_depth(cam: str) -> str:
    return f"cameras/{cam}/depth"


def camera_info(cam: str) -> str:
    return f"cameras/{cam}/camera_info"


def camera_pose(cam: str) -> str:
    return f"cameras/{cam}/pose"
