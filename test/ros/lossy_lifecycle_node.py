"""A bare lifecycle node that loses what DDS can lose: ``python lossy_lifecycle_node.py NAME
MODE``; MODE ``reply`` performs each transition's first request but drops its reply, MODE
``request`` ignores each transition's first request altogether (no transition, no reply),
MODE ``refuse`` fails configure. Prints ``ready`` once its services exist."""
from __future__ import annotations

import sys

import rclpy
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn


class Lossy(LifecycleNode):
    def __init__(self, name: str, mode: str):
        super().__init__(name)
        self.mode, self.seen = mode, set()
        srv = self._service_change_state
        perform, send = srv.callback, srv.send_response
        drop = {"now": False}

        def change_state(request, response):
            label = request.transition.label
            first = label not in self.seen
            self.seen.add(label)
            drop["now"] = first and mode in ("reply", "request")
            if first and mode == "request":
                return response
            return perform(request, response)

        def send_response(response, header):
            if drop["now"]:
                print("dropped the reply to a change_state request", flush=True)
                return
            send(response, header)

        srv.callback, srv.send_response = change_state, send_response

    def on_configure(self, state):
        if self.mode == "refuse":
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS


def main() -> None:
    rclpy.init()
    node = Lossy(sys.argv[1], sys.argv[2])
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
