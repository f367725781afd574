"""``python -m mn_models.policy``: a tiny policy learns four synthetic scenes on the CPU."""
import time

import torch

from mn_models.policy import constants as K
from mn_models.policy import make_policy
from mn_models.policy.synthetic import make_synthetic_batch


def main(steps: int = 60, seed: int = 0) -> None:
    torch.manual_seed(seed)
    batch = make_synthetic_batch(4, seed=seed, hw=48, cameras=("front", "wrist"))
    policy = make_policy("tiny", cameras=("front", "wrist"), augment=False)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        policy.train()
        loss, logs, _ = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            actions, _ = policy.predict_action(batch)
            err = (actions[:, :3] - batch[K.ACTION][:, :3]).norm(dim=-1).mean()
            print(f"step {step:3d}  loss {logs['loss']:.3f}  rot acc {logs['acc_rot']:.2f}  "
                  f"translation error {100 * err:.1f} cm  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
