"""What every mn node shares: QoS profiles, documented parameters, the lifecycle, diagnostics,
payload-safe logging and main().

Lifecycle. Every mn node is a managed node (``rclpy.lifecycle.LifecycleNode``) with the
standard services (``~/change_state``, ``~/get_state``, ``~/get_available_states``,
``~/get_available_transitions``) and ``~/transition_event``, so ``ros2 lifecycle``, launch_ros
event handlers and `mn bringup` drive it::

    unconfigured --configure--> inactive --activate--> active --deactivate--> inactive
    inactive --cleanup--> unconfigured;    unconfigured|inactive|active --shutdown--> finalized

``configure`` loads what is heavy (the subclass's ``load()``: a checkpoint, the simulator); an
exception there refuses the transition: the node logs why (``refusing to start: ...``), stays
unconfigured and reports it on ``/diagnostics``. ``cleanup`` (and shutdown) free it
(``unload()``). Data publishers are lifecycle publishers (silent unless active) and every input
callback drops its message unless active (``accept``). With the ``autostart`` parameter
(default true: ``ros2 run`` / ``python -m``) a node configures and activates itself and a failed
configure exits with status 2; `mn bringup` and the launch files set it false and drive the
transitions. A node exits (status 0) once finalized. ``~/state`` (std_msgs/String, latched)
repeats the state for simple clients: unconfigured | inactive | active | finalized |
failed: <why> (a failed configure; the lifecycle state is then unconfigured).

Diagnostics. Once a second and on every transition each node publishes a
``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics`` (absolute, the ROS convention): one
status named after the node, level OK when active, WARN while not active, ERROR after a failed
configure, with the values state, loaded, decisions, decision_latency_ms_last / _p50 (the
node's own work per decision: a policy step, a recognition, a sim step, a comparison),
frames_dropped (invalid or out-of-clip frames and observations), commands_rejected,
last_rejection, dropped_while_inactive and failure_reason.

Logging. ``short()`` cuts anything that came from a message (an instruction, a JSON command,
an error quoting one) to ``PAYLOAD_LOG_CHARS`` characters before it is logged.

Ctrl-C. ``run_node`` handles SIGINT/SIGTERM itself: a signal only asks the spin loop to stop
(a second one -- a terminal and ros2 launch both send one -- changes nothing), then the node is
freed (the recorder finishes its bag) and the process exits 0 without a traceback.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import (InvalidParameterTypeException, NameValidationException,
                              ParameterException)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from std_msgs.msg import String

from mn_ros import topics as T

SENSOR_QOS = qos_profile_sensor_data          # cameras, video: best effort, keep last 5
# images the observer watches (video, any camera): reliable, keep last 30 (1 s at 30 Hz). A
# 1-13 MB frame is tens to hundreds of UDP fragments and best effort loses the whole frame with
# any one of them; reliable re-sends the lost fragments, and the depth lets a reader that fell
# behind (a loaded CPU) catch up before the oldest frames are dropped (`mn bench camera`).
IMAGE_QOS = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST)
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             history=HistoryPolicy.KEEP_LAST)
EXIT_CONFIGURE_FAILED = 2
PAYLOAD_LOG_CHARS = 300
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list"}


def short(payload: Any, limit: int = PAYLOAD_LOG_CHARS) -> str:
    """``payload`` as text for a log line, cut to ``limit`` characters (saying how long it
    was): a 10 MB instruction must not become a 10 MB log line."""
    text = payload if isinstance(payload, str) else repr(payload)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


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
    try:
        value = node.declare_parameter(name, default, d).value
    except InvalidParameterTypeException:
        given = getattr(node, "_parameter_overrides", {}).get(name)
        shown = short(given.value if given is not None else "?", 80)
        raise ValueError(f"parameter {name!r} is {shown!r}; it must be "
                         f"{_TYPE_NAMES.get(type(default), type(default).__name__)} "
                         f"(default {default!r})") from None
    if choices and value not in choices:
        raise ValueError(f"parameter {name!r} is {short(value, 80)!r}; choose one of "
                         f"{list(choices)}")
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


class ManagedNode(LifecycleNode):
    """A lifecycle node with mn's conventions (see the module docstring).

    Subclasses implement ``load()`` (raise to refuse to configure) and ``unload()`` (free it),
    optionally ``started()`` / ``stopped()`` (on activate / deactivate) and
    ``diagnostic_values()``; they create data publishers with ``create_lifecycle_publisher``,
    guard input callbacks with ``accept(what)``, count with ``frame_dropped`` /
    ``command_rejected`` and time decisions with ``with self.decision():``.
    """

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.autostart = declare(self, "autostart", True,
                                 "configure and activate at start (load the checkpoint / "
                                 "simulator); false: wait for the lifecycle services "
                                 "(mn bringup, ros2 launch, ros2 lifecycle set)")
        self.state = "unconfigured"
        self.loaded = False
        self.exit_code: int | None = None
        self.dropped: dict[str, int] = {}   # what -> messages dropped while not active
        self.frames_dropped = 0
        self.rejected = 0
        self.last_rejection = ""
        self.failure_reason = ""
        self.latencies_ms: deque = deque(maxlen=200)
        self.decisions = 0
        self._state_pub = self.create_publisher(String, T.STATE, LATCHED_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, T.DIAGNOSTICS, DIAGNOSTICS_QOS)
        self._publish_state()
        self.create_timer(1.0, self.publish_diagnostics)
        if self.autostart:
            self._start_timer = self.create_timer(0.0, self._autostart)

    # ---------------------------------------------------------------- subclass hooks
    def load(self) -> None:
        """Load what is heavy. Raise an exception with a clear message to refuse."""

    def unload(self) -> None:
        """Free what ``load`` made (cleanup, shutdown, exit)."""

    def started(self) -> None:
        """Called on activation, after the lifecycle publishers are enabled."""

    def stopped(self) -> None:
        """Called on deactivation."""

    def diagnostic_values(self) -> dict[str, Any]:
        """Node-specific values added to the diagnostics."""
        return {}

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        self._set_state("configuring")
        try:
            self.load()
        except Exception as e:   # noqa: BLE001 -- any failure means: refuse to configure
            self._free()
            self.failure_reason = short(f"{type(e).__name__}: {e}", 1000)
            self.get_logger().error(f"refusing to start: {self.failure_reason}")
            self._set_state(f"failed: {self.failure_reason}")
            return FAILURE
        self.loaded, self.failure_reason = True, ""
        self._set_state("inactive")
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        ret = super().on_activate(state)   # enables the lifecycle publishers
        if self.dropped:
            self.get_logger().info(f"dropped {sum(self.dropped.values())} message(s) while "
                                   f"not active: {self.dropped}")
        self._set_state("active")
        self.started()
        return ret

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        ret = super().on_deactivate(state)
        self._set_state("inactive")
        self.stopped()
        return ret

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._free(collect=True)
        self._set_state("unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        for entity in self._managed_entities:   # silence the publishers from here on
            entity.on_deactivate(state)
        self._free()
        self._set_state("finalized")
        self.exit_code = 0 if self.exit_code is None else self.exit_code
        return super().on_shutdown(state)

    def _free(self, collect: bool = False) -> None:
        """unload(); with ``collect`` also a full garbage collection (cleanup: give the
        model's memory back now; not on the way out, where it costs seconds)."""
        try:
            self.unload()
        finally:
            self.loaded = False
            if collect:
                import gc
                gc.collect()

    # ---------------------------------------------------------------- state, diagnostics
    def _publish_state(self) -> None:
        try:
            self._state_pub.publish(String(data=self.state))
        except Exception:   # noqa: BLE001 -- the context was shut down meanwhile
            if self.context.ok():
                raise

    def _set_state(self, state: str) -> None:
        self.state = state
        self._publish_state()
        self.get_logger().info(f"state: {state}")
        if self.context.ok():
            self.publish_diagnostics()

    @property
    def active(self) -> bool:
        return self.state == "active"

    def accept(self, what: str) -> bool:
        """True when active; otherwise log (once per kind) that ``what`` is dropped."""
        if self.state == "active":
            return True
        n = self.dropped[what] = self.dropped.get(what, 0) + 1
        if n == 1:
            self.get_logger().warning(f"dropping {short(what)}: not active (state "
                                      f"{short(self.state)})")
        return False

    def frame_dropped(self, why: str) -> None:
        self.frames_dropped += 1
        self.get_logger().warning(f"frame dropped: {short(why)}")

    def command_rejected(self, what: str, why: str, log: str | None = None) -> None:
        """Count a rejected command, remember why, log ``log`` (default: what and why)."""
        self.rejected += 1
        self.last_rejection = short(f"{what}: {why}")
        self.get_logger().warning(short(log, 2 * PAYLOAD_LOG_CHARS) if log is not None
                                  else f"{what} rejected: {short(why)}")

    @contextmanager
    def decision(self):
        """Time one decision (a policy step, a recognition, ...) for the diagnostics."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.latencies_ms.append((time.perf_counter() - t) * 1e3)
            self.decisions += 1

    def publish_diagnostics(self) -> None:
        lat = sorted(self.latencies_ms)
        values = {"state": self.state, "loaded": self.loaded, "decisions": self.decisions,
                  "decision_latency_ms_last": round(self.latencies_ms[-1], 2) if lat else "",
                  "decision_latency_ms_p50": round(lat[len(lat) // 2], 2) if lat else "",
                  "frames_dropped": self.frames_dropped, "commands_rejected": self.rejected,
                  "last_rejection": self.last_rejection,
                  "dropped_while_inactive": sum(self.dropped.values()),
                  "failure_reason": self.failure_reason}
        values.update(self.diagnostic_values())
        if self.failure_reason:
            level, message = DiagnosticStatus.ERROR, f"configure failed: {self.failure_reason}"
        elif self.state == "active":
            level, message = DiagnosticStatus.OK, "active"
        else:
            level, message = DiagnosticStatus.WARN, f"not active ({self.state})"
        fqn = self.get_fully_qualified_name()
        status = DiagnosticStatus(level=level, name=fqn, message=short(message),
                                  hardware_id=fqn,
                                  values=[KeyValue(key=k, value=str(v).lower()
                                                   if isinstance(v, bool) else str(v))
                                          for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        try:
            self._diag_pub.publish(msg)
        except Exception:   # noqa: BLE001 -- the context was shut down meanwhile
            if self.context.ok():
                raise

    # ---------------------------------------------------------------- autostart
    def _autostart(self) -> None:
        self._start_timer.cancel()
        self.destroy_timer(self._start_timer)
        if self.trigger_configure() != SUCCESS:
            self.exit_code = EXIT_CONFIGURE_FAILED   # refuse to start rather than run without
            return
        self.trigger_activate()

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds


class PrivateNode:
    """An rclpy node on its own context and domain inside a tool that drives a graph (`mn
    bringup`'s lifecycle driver, the demo's director, the ROS benchmarks), with its executor;
    ``close()`` releases all three, also when a step of set-up failed."""

    def __init__(self, name: str, domain: int, namespace: str = ""):
        self.ctx = rclpy.Context()
        rclpy.init(args=[], context=self.ctx, domain_id=int(domain),
                   signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = self.executor = None
        try:
            self.node = Node(name, namespace=namespace or None, context=self.ctx)
            self.executor = SingleThreadedExecutor(context=self.ctx)
            self.executor.add_node(self.node)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            if self.executor is not None:
                self.executor.shutdown()
            if self.node is not None:
                self.node.destroy_node()
        finally:
            self.ctx.try_shutdown()


class _StopFlag:
    """SIGINT/SIGTERM handler: remember that a stop was asked; never raise."""

    def __init__(self):
        self.signals = 0

    def __call__(self, signum, frame) -> None:
        self.signals += 1


def node_main(factory: Callable[[], Node], args: Sequence[str] | None = None) -> None:
    """A node executable's main(): ``run_node``, then leave at once. Everything the node holds
    is already freed (bags written, the simulator closed, rclpy shut down); skipping the
    interpreter's final garbage collection -- seconds with torch and transformers loaded, on
    a busy machine -- keeps a stop within its grace period."""
    code = run_node(factory, args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Build the node and spin a SingleThreadedExecutor until a signal, an external shutdown,
    a failed autostart configure or the node's own exit; returns the exit status (0; 2 after a
    failed configure with autostart; 1 when the node cannot be built: a bad parameter)."""
    stop = _StopFlag()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
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
        while not stop.signals and rclpy.ok() and getattr(node, "exit_code", None) is None:
            try:
                executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                break
            except Exception:   # noqa: BLE001 -- the context went away under the spin
                if rclpy.ok():
                    raise
                break
        code = getattr(node, "exit_code", None) or 0
    finally:
        if node is not None:
            try:
                if isinstance(node, ManagedNode):
                    node._free()
            except Exception as e:   # noqa: BLE001 -- report, still exit cleanly
                print(f"[mn] error while stopping: {type(e).__name__}: {short(str(e))}",
                      file=sys.stderr, flush=True)
                code = code or 1
            node.destroy_node()
        rclpy.try_shutdown()
        for s, h in old.items():
            signal.signal(s, h)
    return code
