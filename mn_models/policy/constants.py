"""Keys of the policy's batch dictionary (one place, no strings spread over the code).

A batch is a ``dict[str, torch.Tensor]``; B = batch size, H, W = camera image size:

    "{cam}_rgb"          (B, H, W, 3) uint8 in [0, 255] or float in [0, 1]
    "{cam}_depth"        (B, H, W) float, metres along the optical axis (<= 0 or non-finite =
                         no return)
    "{cam}_intrinsics"   (B, 3, 3) pinhole matrix, OpenCV convention (pixel (u, v) centre at
                         integer coordinates)
    "{cam}_extrinsics"   (B, 4, 4) camera-to-world pose, camera looks along +z, x right, y down
    "proprio"            (B, 3) [gripper_open, finger joint 1, finger joint 2]
    "lang_tokens"        (B, L) int64 CLIP-BPE token ids of the instruction
    "lang_mask"          (B, L) bool, True = real token (optional; default tokens != pad id)
    "action"             (B, 9) target keyframe [xyz, quat xyzw, gripper_open,
                         ignore_collisions] (training only)
    "gripper_pose"       (B, 7) current gripper pose (optional; moved along by augmentation)
    "views"              (B, V, 7, S, S) float, the stage-1 virtual views already rendered
                         from the cameras (pointcloud.render_views(..., location=False)):
                         optional, replaces the camera keys when the views cannot change
                         (no augmentation, one stage), e.g. read from the training cache

``{cam}`` runs over ``PolicyConfig.cameras`` (default mn_sim.types.CAMERAS).
"""

PROPRIO = "proprio"
LANG_TOKENS = "lang_tokens"
LANG_MASK = "lang_mask"
ACTION = "action"
GRIPPER_POSE = "gripper_pose"
VIEWS = "views"

# Outputs of ARPPolicy.forward / predict.
EMBEDDING = "e"
HEATMAPS = "heatmaps"          # list over stages of (B, V, S, S) logits
TOKEN_LOGITS = "token_logits"  # dict name -> (B, n_classes)
POINT = "point"                # (B, 3) predicted translation, world frame
ACTIONS = "actions"            # (B, 9)
ROT_BINS = "rot_bins"          # (B, 3) int64


def rgb_key(cam: str) -> str:
    return f"{cam}_rgb"


def depth_key(cam: str) -> str:
    return f"{cam}_depth"


def intrinsics_key(cam: str) -> str:
    return f"{cam}_intrinsics"


def extrinsics_key(cam: str) -> str:
    return f"{cam}_extrinsics"


def camera_keys(cam: str) -> tuple[str, str, str, str]:
    return rgb_key(cam), depth_key(cam), intrinsics_key(cam), extrinsics_key(cam)
