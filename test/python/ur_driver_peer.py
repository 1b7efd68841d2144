"""Universal_Robots_ROS2_Driver stand-in (rclpy, real DDS) backed by a UR controller over SDU's ur_rtde.

The rclpy twin of packages/edge-agent/test/ros2/ur-driver-peer.ts, but instead of modelling the arm it drives a
controller: the UR controller emulator (packages/edge-agent/src/robots/ur/emulator/, `edge-agent emulate ur5`) or
anything else that speaks RTDE and the dashboard protocol. It offers what the agent's ros2 arm link uses
(packages/edge-agent/src/robots/ur5/ros2-arm.ts), with ur_robot_driver's names, types and QoS:

  /joint_states                          sensor_msgs/JointState at --rate Hz (reliable, volatile, depth 10, as
                                         joint_state_broadcaster): position = RTDE actual_q, velocity = actual_qd,
                                         effort zeros; names <prefix>shoulder_pan_joint ... in a fixed order that is
                                         not the command order (the agent maps by name, as the driver does not
                                         promise one)
  /scaled_joint_trajectory_controller/joint_trajectory
                                         trajectory_msgs/JointTrajectory: its points are followed, linearly
                                         interpolated from the last servo target over each point's time_from_start,
                                         by one RTDEControlInterface.servoJ per tick (a new goal replaces the old one,
                                         as the joint trajectory controller does)
  /forward_position_controller/commands  std_msgs/Float64MultiArray, 6 values in command order: one servoJ to it
  /io_and_status_controller/robot_mode             ur_dashboard_msgs/RobotMode   (RTDE robot_mode)
  /io_and_status_controller/safety_mode            ur_dashboard_msgs/SafetyMode  (RTDE safety_mode)
  /io_and_status_controller/robot_program_running  std_msgs/Bool: ur_rtde's control script (the stand-in for the
                                         External Control program) is running (RTDE runtime_state PLAYING)
                                         -- all three reliable + transient local, depth 1, published on change only
  /io_and_status_controller/resend_robot_program   std_srvs/Trigger: (re)uploads ur_rtde's control script, refused
                                         unless the arm is RUNNING with safety NORMAL / REDUCED; like the driver's,
                                         it answers once the script is sent, robot_program_running follows
  /dashboard_client/<name>               std_srvs/Trigger for power_on, power_off, brake_release, play, pause, stop,
                                         close_popup, close_safety_popup, unlock_protective_stop, restart_safety:
                                         the dashboard command is forwarded over TCP (--dashboard-port); success when
                                         the reply is the one the driver's dashboard client expects, message = reply

Commands are ignored (and counted) while the control script is not running or the arm cannot move (not RUNNING,
safety not NORMAL / REDUCED), as the driver's controllers do when External Control is not connected. Optional
camera topics (not part of the driver; the UR5 plugin's ros2 cameras): /<camera>/image_raw sensor_msgs/Image rgb8 at
--image-hz for each of --cameras.

Threads: a tick thread at --rate reads ur_rtde's newest RTDE package, publishes /joint_states (and the status topics
on change, the images every few ticks) and sends the servo target; the rclpy executor runs only the command and
service callbacks (each executor wake-up costs milliseconds of Python on a small machine). Both share one lock.
--sched (default SCHED_FIFO 20 where permitted, else nice -10) keeps the joint states inside the agent's 100 ms
link watchdog on a loaded machine, as ur_robot_driver runs its control loop under SCHED_FIFO. The first
resend_robot_program makes the RTDEControlInterface, whose constructor holds the GIL while it uploads the script and
waits for it (0.02-0.3 s: no joint states meanwhile; the agent is still bringing the arm up then, not watching).

ur_rtde 1.6.5 has fixed ports (RTDE 30004, dashboard 29999, real-time script 30003; only the host is configurable)
and no reply timeouts: run the controller on its own loopback address, and guard this process with a hang timeout
(the test harness kills it). Run it only inside scripts/ros2-netns.sh with .venv-ros2/ros2-env.sh and
.venv-ros2/opt/openpi_msgs/env.sh sourced:
  python test/python/ur_driver_peer.py --host 127.0.0.1 --rate 125
Prints "ur_driver_peer: ready (<scheduling>)" on stderr once every endpoint exists and the RTDE state streams (and
touches --ready-file), and one JSON line on stdout on SIGTERM / SIGINT: commands received and ignored, service calls
by name, servo targets sent, status changes, joint-state gaps over 50 ms, final state. ur_rtde's own console output
goes to stderr, so stdout holds only that line.
"""

import argparse
import array
import json
import math
import os
import signal
import socket
import sys
import threading
import time

import rclpy
import rtde_control
import rtde_receive
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from ur_dashboard_msgs.msg import RobotMode, SafetyMode

# ur_description's joints in command order (UR_JOINT_NAMES in src/robots/ur5/ros2-arm.ts).
JOINTS = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
]
# The order /joint_states goes out in: alphabetical, deliberately not the command order.
PUBLISH_ORDER = sorted(range(6), key=lambda i: JOINTS[i])

# RTDE values (src/robots/ur/rtde/types.ts).
ROBOT_RUNNING = 7
SAFETY_OK = (1, 2)  # NORMAL, REDUCED
RUNTIME_PLAYING = 2
UR_RTDE_PORT = 30004

# Dashboard Trigger services: service name -> (dashboard command, the reply prefix ur_robot_driver's dashboard client
# counts as success).
DASHBOARD = {
    "power_on": ("power on", "Powering on"),
    "power_off": ("power off", "Powering off"),
    "brake_release": ("brake release", "Brake releasing"),
    "play": ("play", "Starting program"),
    "pause": ("pause", "Pausing program"),
    "stop": ("stop", "Stopped"),
    "close_popup": ("close popup", "closing popup"),
    "close_safety_popup": ("close safety popup", "closing safety popup"),
    "unlock_protective_stop": ("unlock protective stop", "Protective stop releasing"),
    "restart_safety": ("restart safety", "Restarting safety"),
}

# servoJ parameters: speed / acceleration are not used by servoj (ur_rtde only range-checks them); lookahead (s)
# is the controller's smoothing time (the emulator's first-order time constant), gain its proportional gain.
SERVO_SPEED = 1.0
SERVO_ACCEL = 1.0
SERVO_GAIN = 300

# Status topics: io_and_status_controller's QoS (reliable, transient local, depth 1).
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class Dashboard:
    """One TCP connection to the dashboard server (29999): banner, then one reply line per command."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.sock = None
        self.file = None

    def _connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        self.file = self.sock.makefile("rw", encoding="utf-8", newline="\n")
        self.file.readline()  # "Connected: Universal Robots Dashboard Server"

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.file = None

    def send(self, command: str) -> str:
        """The reply line; raises OSError when the server cannot be reached twice in a row."""
        for attempt in (0, 1):
            try:
                if self.file is None:
                    self._connect()
                self.file.write(command + "\n")
                self.file.flush()
                reply = self.file.readline()
                if reply == "":
                    raise OSError("dashboard closed the connection")
                return reply.rstrip("\r\n")
            except OSError:
                self.close()
                if attempt == 1:
                    raise
        raise OSError("unreachable")


class UrDriverPeer(Node):
    def __init__(self, args) -> None:
        super().__init__("ur_driver_peer")
        self.args = args
        self.t0 = time.monotonic()
        self.names = [f"{args.prefix}{j}" for j in JOINTS]
        self.period = 1.0 / args.rate
        # RTDE state at the publish rate (ur_rtde's receive thread keeps the newest package).
        self.rx = rtde_receive.RTDEReceiveInterface(
            args.host,
            float(args.rate),
            ["timestamp", "actual_q", "actual_qd", "robot_mode", "safety_mode", "runtime_state"],
        )
        self.dashboard = Dashboard(args.host, args.dashboard_port, args.dashboard_timeout)
        # Made on the first resend_robot_program with the arm running (its constructor uploads the control script
        # and waits until it runs: refused, it would wait 5 s and throw).
        self.control = None
        self.rtde_lost = False

        self.q = list(self.rx.getActualQ())
        self.qd = [0.0] * 6
        self.robot_mode = None
        self.safety_mode = None
        self.program_running = None
        # Motion: the last servo target sent, and the active segment [(t, q)...] from it.
        self.servo_target = None
        self.segment = None

        self.commands = {"trajectory": 0, "forward": 0}
        self.ignored = {"not_running": 0, "joint_names": 0, "bad_length": 0, "not_finite": 0, "empty": 0}
        self.servo = {"sent": 0, "refused": 0}
        self.service_calls: dict = {}
        self.requests: list = []
        self.joint_states_published = 0
        self.status_changes: list = []
        # The tick thread (joint states, status, servo stream, images) and the executor's callbacks (commands,
        # services) share the state and the ur_rtde interfaces under this lock.
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.ticks = 0
        self.last_tick = None
        self.max_gap = 0.0
        self.gaps_over_50ms = 0
        self.gaps: list = []

        self.pub_joints = self.create_publisher(JointState, "/joint_states", 10)
        io = "/io_and_status_controller"
        self.pub_robot_mode = self.create_publisher(RobotMode, f"{io}/robot_mode", LATCHED)
        self.pub_safety_mode = self.create_publisher(SafetyMode, f"{io}/safety_mode", LATCHED)
        self.pub_program = self.create_publisher(Bool, f"{io}/robot_program_running", LATCHED)
        self.create_subscription(
            JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory", self.on_trajectory, 10
        )
        self.create_subscription(Float64MultiArray, "/forward_position_controller/commands", self.on_forward, 10)
        self.create_service(Trigger, f"{io}/resend_robot_program", self.on_resend)
        for name, (command, expect) in DASHBOARD.items():
            self.create_service(Trigger, f"/dashboard_client/{name}", self.dashboard_handler(name, command, expect))

        self.image_pubs = []
        self.images_published = 0
        cameras = [c for c in args.cameras.split(",") if c]
        if args.image_hz > 0 and cameras:
            w, h = args.image_width, args.image_height
            for k, cam in enumerate(cameras):
                pub = self.create_publisher(Image, f"/{cam}/image_raw", qos_profile_sensor_data)
                # A fixed per-camera gradient (bytes are copied at publish time).
                data = bytearray()
                for y in range(h):
                    for x in range(w):
                        data += bytes(((x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), (k * 90) & 255))
                self.image_pubs.append((cam, pub, array.array("B", bytes(data))))
        # Images go out every this many ticks (about --image-hz).
        self.image_every = max(1, round(args.rate / args.image_hz)) if args.image_hz > 0 else 0

        self.tick()  # the status topics carry the current values before anyone subscribes

    def start_ticking(self) -> threading.Thread:
        """The tick loop on its own thread, on absolute deadlines: the executor wakes only for commands and service
        calls (each rclpy executor wake-up costs milliseconds of Python), so joint states keep their rate while a
        service is answered."""

        def loop() -> None:
            deadline = time.monotonic()
            while not self.stopping.is_set():
                deadline += self.period
                delay = deadline - time.monotonic()
                if delay > 0:
                    self.stopping.wait(delay)
                else:
                    deadline = time.monotonic()  # late by more than a period: no burst to catch up
                self.tick()

        thread = threading.Thread(target=loop, name="ur_driver_peer_tick", daemon=True)
        thread.start()
        return thread

    # --- state ---------------------------------------------------------------------------------------------------
    def can_move(self) -> bool:
        return (
            self.control is not None
            and self.program_running is True
            and self.robot_mode == ROBOT_RUNNING
            and self.safety_mode in SAFETY_OK
        )

    def read_state(self) -> bool:
        """Copies the newest RTDE package; False once the RTDE connection is gone (nothing is published then)."""
        if not self.rx.isConnected():
            self.rtde_lost = True
            return False
        self.q = list(self.rx.getActualQ())
        self.qd = list(self.rx.getActualQd())
        self.set_status("robot_mode", int(self.rx.getRobotMode()))
        self.set_status("safety_mode", int(self.rx.getSafetyMode()))
        running = self.control is not None and int(self.rx.getRuntimeState()) == RUNTIME_PLAYING
        self.set_status("program_running", running)
        return True

    def set_status(self, what: str, value) -> None:
        """Publishes a status topic when its value changes (io_and_status_controller publishes on change only)."""
        if getattr(self, what) == value:
            return
        setattr(self, what, value)
        if len(self.status_changes) < 100:
            self.status_changes.append({"t": round(time.monotonic() - self.t0, 3), what: value})
        if what == "robot_mode":
            self.pub_robot_mode.publish(RobotMode(mode=value))
        elif what == "safety_mode":
            self.pub_safety_mode.publish(SafetyMode(mode=value))
        else:
            if not value:
                # The script ended (stopped, protective stop...): the goal is dropped, the next one starts from the
                # measured pose.
                self.segment = None
                self.servo_target = None
            self.pub_program.publish(Bool(data=value))

    def publish_joint_state(self) -> None:
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = [self.names[i] for i in PUBLISH_ORDER]
        msg.position = [float(self.q[i]) for i in PUBLISH_ORDER]
        msg.velocity = [float(self.qd[i]) for i in PUBLISH_ORDER]
        msg.effort = [0.0] * 6
        self.pub_joints.publish(msg)
        self.joint_states_published += 1

    def tick(self) -> None:
        with self.lock:
            self.tick_locked()

    def tick_locked(self) -> None:
        now = time.monotonic()
        if self.last_tick is not None:
            gap = now - self.last_tick
            self.max_gap = max(self.max_gap, gap)
            if gap > 0.05:
                self.gaps_over_50ms += 1
                if len(self.gaps) < 20:
                    self.gaps.append({"t": round(now - self.t0, 3), "ms": round(gap * 1000, 1)})
        self.last_tick = now
        if not self.read_state():
            return
        self.publish_joint_state()
        self.follow(now)
        self.ticks += 1
        if self.image_pubs and self.ticks % self.image_every == 0:
            self.publish_images()

    # --- motion --------------------------------------------------------------------------------------------------
    def servo_to(self, q: list) -> None:
        ok = self.control.servoJ(q, SERVO_SPEED, SERVO_ACCEL, self.period, self.args.lookahead, SERVO_GAIN)
        self.servo["sent" if ok else "refused"] += 1
        self.servo_target = list(q)

    def follow(self, now: float) -> None:
        """One servo target on the active segment (piecewise linear in time); the segment ends at its last point."""
        seg = self.segment
        if seg is None:
            return
        if not self.can_move():
            self.segment = None
            return
        prev_t, prev_q = seg[0]
        target = None
        for t, q in seg[1:]:
            if now < t:
                f = (now - prev_t) / (t - prev_t) if t > prev_t else 1.0
                target = [a + (b - a) * f for a, b in zip(prev_q, q)]
                break
            prev_t, prev_q = t, q
        if target is None:
            target = list(seg[-1][1])
            self.segment = None
        self.servo_to(target)

    def accept(self, kind: str) -> bool:
        self.commands[kind] += 1
        if not self.can_move():
            self.ignored["not_running"] += 1
            return False
        return True

    def on_trajectory(self, msg: JointTrajectory) -> None:
        with self.lock:
            self.trajectory_locked(msg)

    def trajectory_locked(self, msg: JointTrajectory) -> None:
        if not self.accept("trajectory"):
            return
        names = list(msg.joint_names)
        if sorted(names) != sorted(self.names):
            self.ignored["joint_names"] += 1
            return
        if len(msg.points) == 0:
            self.ignored["empty"] += 1
            return
        order = [names.index(n) for n in self.names]
        now = time.monotonic()
        start = list(self.servo_target) if self.servo_target is not None else list(self.q)
        seg = [(now, start)]
        for p in msg.points:
            pos = list(p.positions)
            if len(pos) != len(names):
                self.ignored["bad_length"] += 1
                return
            q = [float(pos[i]) for i in order]
            if not all(math.isfinite(v) for v in q):
                self.ignored["not_finite"] += 1
                return
            t = now + p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
            seg.append((max(t, seg[-1][0]), q))
        self.segment = seg
        self.follow(now)

    def on_forward(self, msg: Float64MultiArray) -> None:
        with self.lock:
            self.forward_locked(msg)

    def forward_locked(self, msg: Float64MultiArray) -> None:
        if not self.accept("forward"):
            return
        q = [float(v) for v in msg.data]
        if len(q) != 6:
            self.ignored["bad_length"] += 1
            return
        if not all(math.isfinite(v) for v in q):
            self.ignored["not_finite"] += 1
            return
        self.segment = None
        self.servo_to(q)

    # --- services ------------------------------------------------------------------------------------------------
    def record(self, service: str, started: float, success: bool, message: str) -> None:
        with self.lock:
            self.record_locked(service, started, success, message)

    def record_locked(self, service: str, started: float, success: bool, message: str) -> None:
        """Counts a service call; the first 100 are kept with their start (s since start) and duration (ms)."""
        self.service_calls[service] = self.service_calls.get(service, 0) + 1
        if len(self.requests) < 100:
            self.requests.append(
                {
                    "service": service,
                    "t": round(started - self.t0, 3),
                    "ms": round((time.monotonic() - started) * 1000, 1),
                    "success": success,
                    "message": message,
                }
            )

    def dashboard_handler(self, name: str, command: str, expect: str):
        def handler(_req, res):
            started = time.monotonic()
            # The TCP round trip runs outside the lock: the tick thread keeps publishing meanwhile.
            try:
                reply = self.dashboard.send(command)
                res.success = reply.startswith(expect)
                res.message = reply
            except OSError as e:
                res.success = False
                res.message = f"dashboard {self.args.host}:{self.args.dashboard_port} unreachable: {e}"
            self.record(name, started, res.success, res.message)
            return res

        return handler

    def on_resend(self, _req, res):
        started = time.monotonic()
        with self.lock:
            self.resend_locked(started, res)
        # Fresh joint states before the answer: the caller may check the link right after the program runs.
        self.tick()
        return res

    def resend_locked(self, started: float, res) -> None:
        self.read_state()
        if self.robot_mode != ROBOT_RUNNING or self.safety_mode not in SAFETY_OK:
            res.success = False
            res.message = f"cannot start the program: robot mode {self.robot_mode}, safety mode {self.safety_mode}"
        else:
            try:
                if self.control is None:
                    # Uploads the control script and waits (at most 5 s, ur_rtde's own limit) until it runs.
                    self.control = rtde_control.RTDEControlInterface(self.args.host, float(self.args.control_hz))
                else:
                    # Sends the script and returns; robot_program_running follows once the controller runs it.
                    if not self.control.reuploadScript():
                        raise RuntimeError("reuploadScript returned false")
                res.success = True
                res.message = "robot program sent"
            except Exception as e:  # ur_rtde raises std::logic_error & co. as RuntimeError
                res.success = False
                res.message = f"ur_rtde: {e}"
        self.record_locked("resend_robot_program", started, res.success, res.message)

    # --- cameras -------------------------------------------------------------------------------------------------
    def publish_images(self) -> None:
        stamp = self.get_clock().now().to_msg()
        for cam, pub, data in self.image_pubs:
            msg = Image()
            msg.header.stamp = stamp
            msg.header.frame_id = cam
            msg.height = self.args.image_height
            msg.width = self.args.image_width
            msg.encoding = "rgb8"
            msg.is_bigendian = 0
            msg.step = 3 * self.args.image_width
            msg.data = data
            pub.publish(msg)
        self.images_published += 1

    # --- report --------------------------------------------------------------------------------------------------
    def report(self) -> dict:
        return {
            "commands": self.commands,
            "ignored": self.ignored,
            "servo": self.servo,
            "services": self.service_calls,
            "requests": self.requests,
            "status_changes": self.status_changes,
            "joint_states_published": self.joint_states_published,
            "image_ticks": self.images_published,
            # Longest gap between joint_states ticks (the agent calls its link lost after 100 ms).
            "max_state_gap_ms": round(self.max_gap * 1000, 1),
            "state_gaps_over_50ms": self.gaps_over_50ms,
            # When (s since start) and how long (ms) each of the first 20 such gaps was.
            "state_gaps": self.gaps,
            "rtde_lost": self.rtde_lost,
            "final": {
                "q": [round(v, 5) for v in self.q],
                "robot_mode": self.robot_mode,
                "safety_mode": self.safety_mode,
                "program_running": self.program_running,
            },
        }

    def shutdown(self) -> None:
        self.dashboard.close()
        # Leaves the control script as it is (the controller keeps its last target); only the sockets close.
        for iface in (self.control, self.rx):
            if iface is not None:
                try:
                    iface.disconnect()
                except RuntimeError:
                    pass


def raise_priority(spec: str) -> str:
    """Scheduling for this process's threads (set before any is created: ROS 2's and ur_rtde's inherit it).

    ur_robot_driver runs its control loop under SCHED_FIFO where permitted; here it keeps /joint_states within the
    agent's 100 ms link watchdog on a loaded machine. The kernel's real-time throttling bounds a runaway thread.
    Returns what was applied, for the summary."""
    kind, _, value = spec.partition(":")
    if kind == "none":
        return "default"
    if kind == "fifo":
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(value or "20")))
            return f"SCHED_FIFO {int(value or '20')}"
        except (PermissionError, OSError):
            kind, value = "nice", "-10"
    if kind == "nice":
        try:
            os.nice(int(value))
            return f"nice {int(value)}"
        except (PermissionError, OSError):
            return "default (no permission to raise the priority)"
    raise SystemExit(f"ur_driver_peer: --sched {spec}: expected fifo:<n>, nice:<n> or none")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1", help="controller address (default 127.0.0.1)")
    ap.add_argument("--rtde-port", type=int, default=UR_RTDE_PORT, help="must be 30004: ur_rtde's is fixed")
    ap.add_argument("--dashboard-port", type=int, default=29999, help="dashboard server (default 29999)")
    ap.add_argument("--dashboard-timeout", type=float, default=2.0, help="dashboard reply timeout (s, default 2)")
    ap.add_argument("--rate", type=float, default=125.0, help="joint_states and servo Hz (default 125)")
    ap.add_argument("--control-hz", type=float, default=125.0, help="ur_rtde control interface RTDE Hz (default 125)")
    ap.add_argument("--lookahead", type=float, default=0.03, help="servoJ lookahead (s, 0.03-0.2, default 0.03)")
    ap.add_argument("--prefix", default="", help="tf_prefix of the joint names (default none)")
    ap.add_argument("--cameras", default="", help="comma-separated camera names for /<name>/image_raw (default none)")
    ap.add_argument("--image-hz", type=float, default=15.0, help="camera topic rate (default 15)")
    ap.add_argument("--image-width", type=int, default=64)
    ap.add_argument("--image-height", type=int, default=48)
    ap.add_argument(
        "--sched",
        default="fifo:20",
        help="fifo:<1-99> (SCHED_FIFO, else nice -10 where permitted), nice:<n>, or none (default fifo:20)",
    )
    ap.add_argument("--ready-file", default="", help="touched once every endpoint exists")
    args = ap.parse_args()
    if args.rtde_port != UR_RTDE_PORT:
        print(
            f"ur_driver_peer: --rtde-port {args.rtde_port}: ur_rtde 1.6.5 always connects to RTDE port {UR_RTDE_PORT}",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.rate <= 500:
        print(f"ur_driver_peer: --rate must be in (0, 500] Hz, got {args.rate}", file=sys.stderr)
        return 2

    scheduling = raise_priority(args.sched)
    # stdout carries only the JSON summary: everything else written to fd 1 (ur_rtde's C++ output) goes to stderr.
    summary_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    rclpy.init()
    node = UrDriverPeer(args)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ticking = node.start_ticking()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    print(f"ur_driver_peer: ready ({scheduling})", file=sys.stderr, flush=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    started = time.monotonic()
    try:
        while not stop["now"]:
            executor.spin_once(timeout_sec=0.25)
    except ExternalShutdownException:
        pass
    node.stopping.set()
    ticking.join()
    report = node.report()
    report["uptime_s"] = round(time.monotonic() - started, 2)
    report["scheduling"] = scheduling
    node.shutdown()
    summary_out.write(json.dumps(report) + "\n")
    summary_out.flush()
    executor.remove_node(node)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
