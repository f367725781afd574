"""ARP-style embodied-execution policy: point cloud -> virtual views -> MVT -> chunking causal
transformer -> next keyframe action (+ the embedding ``e`` used by the mirror-neuron alignment).

    from mn_models.policy import make_policy, batch_from_observations
    policy = make_policy("tiny")
    loss, logs, out = policy(batch)            # training, out["e"] is (B, policy_dim)
    actions, e = policy.predict_action(batch)  # (B, 9) [xyz, quat xyzw, grip, ignore_coll]
"""
from mn_models.policy.arp import ARPPolicy, make_policy
from mn_models.policy.config import PolicyConfig, make_policy_config
from mn_models.policy.samples import (KeyframeSample, batch_from_observations,
                                      batch_from_samples, keyframe_samples)

__all__ = ["ARPPolicy", "make_policy", "PolicyConfig", "make_policy_config", "KeyframeSample",
           "batch_from_observations", "batch_from_samples", "keyframe_samples"]
