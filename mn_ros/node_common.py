"""What every mn node shares: QoS profiles, documented parameters, the configure step, main().

The configure step is the lifecycle pattern without a lifecycle manager: a node starts
*unconfigured* with its publishers and subscriptions in place, then loads what is heavy (a
checkpoint, the simulator) in ``on_configure`` -- at start when the ``autostart`` parameter is
true, or when the ``~/configure`` service (std_srvs/Trigger) is called. Until it is *active*,
every incoming message is logged and dropped (``self.accept(what)``). Its state is published,
latched, on ``~/state`` (std_msgs/String): unconfigured | configuring | active | failed: <why>.
A failed configure (missing, truncated or wrong-kind checkpoint) makes the process exit with
status 2 after logging why: the node refuses to start rather than run without its model.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Sequence

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from std_msgs.msg import String
from std_srvs.srv import Trigger

from mn_ros import topics as T

SENSOR_QOS = qos_profile_sensor_data          # cameras, video: best effort, keep last 5
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
EXIT_CONFIGURE_FAILED = 2


def declare(node: Node, name: str, default: Any, description: str, *, choices: Sequence = (),
            low: float | None = None, high: float | None = None, read_only: bool = False):
    """Declare a parameter with a description (and choices / a range), return its value."""
    d = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        d.additional_constraints = f"one of: {', '.join(map(str, choices))}"
    if low is not None and high is not None:
        if isinstance(default, int) and not isinstance(default, bool):
            d.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                         to_value=float(high), step=0.0)]
    value = node.declare_parameter(name, default, d).value
    if choices and value not in choices:
        raise ValueError(f"parameter {name!r} is {value!r}; choose one of {list(choices)}")
    return value


def declare_checkpoint(node: Node, model: str, kinds: str) -> tuple[str, int]:
    """The ``checkpoint`` and ``threads`` parameters every model-loading node has."""
    checkpoint = declare(node, "checkpoint", "", f"{model} checkpoint: a checkpoint folder or "
                         f"a run folder (its latest checkpoint) of kind {kinds}", read_only=True)
    threads = declare(node, "threads", 1, "torch CPU threads", low=1, high=64)
    return checkpoint, threads


def log_loaded(node: Node, runner, feature: str, symbol: str, detail: str) -> None:
    """Log what a runner loaded; warn when its checkpoint has no alignment head (so the node
    publishes the raw ``feature`` rather than z_``symbol``, which the mirror node cannot use)."""
    note = "" if runner.alignment is not None else (
        f" -- no alignment head in this checkpoint: publishing the raw {feature} {symbol}, "
        f"not z_{symbol} (the mirror node cannot compare it)")
    node.get_logger().info(f"loaded {runner.checkpoint.kind} checkpoint "
                           f"{runner.checkpoint.path}; {detail}{note}")


class ManagedNode(Node):
    """A Node with an explicit configure step (see the module docstring).

    Subclasses implement ``on_configure()`` (raise to refuse to start). With
    ``configure_in_thread`` it runs in a worker thread while the executor keeps dropping
    messages; otherwise (things bound to the executor thread, e.g. an OpenGL context) it runs
    in the executor thread, and messages wait in their queues meanwhile.
    """

    configure_in_thread = True

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.autostart = declare(self, "autostart", True,
                                 "configure (load the checkpoint / simulator) at start; if "
                                 "false, wait for a call to the ~/configure service")
        self.state = "unconfigured"
        self.exit_code: int | None = None
        self.dropped: dict[str, int] = {}   # what -> messages dropped before activation
        self._state_pub = self.create_publisher(String, T.STATE, LATCHED_QOS)
        self.create_service(Trigger, T.CONFIGURE, self._configure_srv)
        self._publish_state()
        if self.autostart:
            self._start_timer = self.create_timer(0.0, self._autostart)

    # ---------------------------------------------------------------- state
    def on_configure(self) -> None:
        """Load what is heavy. Raise an exception with a clear message to refuse to start."""

    def _publish_state(self) -> None:
        try:
            self._state_pub.publish(String(data=self.state))
        except Exception:   # noqa: BLE001 -- the context was shut down (Ctrl-C) meanwhile
            if self.context.ok():
                raise

    def _set_state(self, state: str) -> None:
        self.state = state
        self._publish_state()
        self.get_logger().info(f"state: {state}")

    @property
    def active(self) -> bool:
        return self.state == "active"

    def accept(self, what: str) -> bool:
        """True when active; otherwise log that ``what`` is dropped and return False."""
        if self.state == "active":
            return True
        n = self.dropped[what] = self.dropped.get(what, 0) + 1
        if n == 1:   # once per kind of message; the total is logged on activation
            self.get_logger().warning(f"dropping {what}: not configured yet (state "
                                      f"{self.state})")
        return False

    # ---------------------------------------------------------------- configure
    def _autostart(self) -> None:
        self._start_timer.cancel()
        self.destroy_timer(self._start_timer)
        self.begin_configure()

    def _configure_srv(self, request, response):
        response.success, response.message = self.begin_configure()
        return response

    def begin_configure(self) -> tuple[bool, str]:
        if self.state in ("configuring", "active"):
            return False, f"already {self.state}"
        self._set_state("configuring")
        if self.configure_in_thread:
            threading.Thread(target=self._configure, name="configure", daemon=True).start()
            return True, "configuring"
        self._configure()
        return self.active, self.state

    def _configure(self) -> None:
        try:
            self.on_configure()
        except Exception as e:   # noqa: BLE001 -- any failure means: refuse to start
            if not self.context.ok():   # interrupted while loading: nothing to report
                return
            self.fail(f"{type(e).__name__}: {e}")
            return
        if not self.context.ok():       # Ctrl-C arrived while loading: the node is going away
            return
        if self.dropped:
            self.get_logger().info(f"dropped {sum(self.dropped.values())} message(s) before "
                                   f"activation: {self.dropped}")
        self._set_state("active")

    def fail(self, reason: str) -> None:
        """Log why and make main() exit with EXIT_CONFIGURE_FAILED."""
        self.state = f"failed: {reason}"
        self._publish_state()
        self.get_logger().error(f"refusing to start: {reason}")
        self.exit_code = EXIT_CONFIGURE_FAILED

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """rclpy.init, build the node, spin a SingleThreadedExecutor until Ctrl-C, an external
    shutdown or a failed configure; returns the exit status (0, 2 on a failed configure, 1
    when the node cannot be built)."""
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        try:
            node = factory()
        except (ValueError, KeyError, ParameterException, NameValidationException) as e:
            print(f"[mn] cannot start: {e}", file=sys.stderr, flush=True)   # a bad parameter
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and getattr(node, "exit_code", None) is None:
            try:
                executor.spin_once(timeout_sec=0.1)
            except Exception:   # noqa: BLE001
                # SIGINT/SIGTERM shuts the context down from rclpy's signal handler; a spin
                # already under way then fails to build its wait set (RCLError). That is a
                # clean stop, not a crash: anything else is re-raised.
                if rclpy.ok():
                    raise
                break
        code = getattr(node, "exit_code", None) or 0
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return code
