"""Interbotix xs_sdk stand-in (rclpy, real DDS) for both ALOHA follower arms, plus the four ALOHA camera topics.

The Python twin of packages/edge-agent/test/ros2/xs-sdk-peer.ts, for end-to-end runs of
`edge-agent start --robot aloha --transport ros2` (packages/edge-agent/test/ros2-real/aloha.ros2.test.ts,
bench/ros2.bench.ts). Per namespace (default
/follower_left and /follower_right), as the agent's transport (src/robots/aloha/ros2-transport.ts) uses them:

  <ns>/joint_states            sensor_msgs/JointState at --rate Hz (reliable, depth 10): 9 entries, the 6 arm joints,
                               gripper (motor angle, rad), left_finger (m, from the gripper angle) and right_finger
                               (= -left_finger), as the TS peer publishes them
  <ns>/commands/joint_group    interbotix_xs_msgs/JointGroupCommand: name 'arm' (6 goals) or 'all' (7: arm + gripper)
  <ns>/commands/joint_single   interbotix_xs_msgs/JointSingleCommand: 'gripper' or any arm joint name
  <ns>/torque_enable           interbotix_xs_msgs/TorqueEnable (group arm|gripper|all or a single joint)
  <ns>/reboot_motors           interbotix_xs_msgs/Reboot
  <ns>/set_operating_modes     interbotix_xs_msgs/OperatingModes
  <ns>/get_robot_info          interbotix_xs_msgs/RobotInfo (not called by the agent; answered like xs_sdk)
  <ns>/get_motor_registers, <ns>/set_motor_registers   interbotix_xs_msgs/RegisterValues (likewise)

Goals are followed with first-order motion (time constant --tau s) on every publish tick; a joint whose torque is off
ignores goals (counted). Camera topics: /<cam>/camera/color/image_rect_raw (alohaImageTopic in
src/robots/aloha/constants.ts) for cam_high, cam_low, cam_left_wrist, cam_right_wrist, sensor_msgs/Image rgb8 at
--image-hz (sensor-data QoS by default, --image-qos reliable for realsense2_camera's default), and with
--image-transport compressed|both sensor_msgs/CompressedImage (JPEG) on <topic>/compressed. As on a real cell,
the cameras can be a process of their own: `--namespaces ''` runs cameras only, `--cameras ''` arms only.
SIGUSR1 freezes joint_states (a hung driver; commands are still taken and counted) and a second one resumes them.

Run it only inside scripts/ros2-netns.sh, with .venv-ros2/ros2-env.sh and .venv-ros2/opt/openpi_msgs/env.sh sourced:
  python test/python/xs_sdk_peer.py --rate 100 --image-hz 30
Prints "xs_sdk_peer: ready" on stderr once everything is created (and touches --ready-file when given), and one JSON
line on stdout on SIGTERM/SIGINT (or after --duration s): commands received, service calls by name, final joints.
"""

import argparse
import array
import json
import math
import signal
import subprocess
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import OperatingModes, RegisterValues, Reboot, RobotInfo, TorqueEnable

# The agent's watchdog calls a joint state stale after 100 ms (src/robots/aloha/safety-defaults.ts); by this long
# into a freeze it must hold, whatever the load on this machine.
FROZEN_SETTLE_S = 0.3
ARM_JOINTS = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"]
JOINT_NAMES = ARM_JOINTS + ["gripper", "left_finger", "right_finger"]
# ALOHA_DEFAULT_RESET_POSE (src/robots/aloha/constants.ts)
HOME = [0.0, -0.96, 1.16, 0.0, -0.3, 0.0]
# Gripper swing-arm geometry (m): hornRadius, armLength. vx300s = VX300S_GRIPPER (transforms/aloha-gripper.ts, what
# the TS peer uses); aloha_vx300s = ALOHA_VX300S_GRIPPER (robots/dynamixel/viperx.ts).
GEOMETRY = {"vx300s": (0.022, 0.036), "aloha_vx300s": (0.0275, 0.035)}
# ViperX 300 joint limits (rad, URDF) for get_robot_info; gripper motor range roughly as xs_sdk reports it.
LOWER = [-3.14158, -1.85005, -1.76278, -3.14158, -1.86750, -3.14158, 0.0]
UPPER = [3.14158, 1.25664, 1.60570, 3.14158, 2.23402, 3.14158, 2.0]
CAMERAS = ["cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist"]


def jpeg_of(rgb: bytes, width: int, height: int) -> bytes:
    """One rgb24 frame as JPEG (ffmpeg's mjpeg encoder: scripts/setup.sh installs ffmpeg)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-i", "-",
         "-frames:v", "1", "-f", "mjpeg", "-q:v", "3", "-"],
        input=rgb, capture_output=True, check=True,
    )
    return out.stdout


def finger_of(angle: float, geometry: tuple) -> float:
    r, arm = geometry
    c = r * math.cos(angle)
    return r * math.sin(angle) + math.sqrt(max(arm * arm - c * c, 0.0))


class Arm:
    """One xs_sdk namespace: state, goals, torque, counters."""

    def __init__(self, node: Node, ns: str, initial: list, gripper: float, geometry: tuple) -> None:
        self.node = node
        self.t0 = time.monotonic()
        self.ns = ns
        self.geometry = geometry
        self.pos = list(initial) + [gripper]  # 7: arm + gripper angle
        self.goal = list(self.pos)
        self.vel = [0.0] * 7
        self.torque = [True] * 7  # xs_sdk torques everything on at start-up
        self.commands = {"joint_group": 0, "joint_single": 0}
        self.ignored = {"torque_off": 0, "unknown_name": 0, "bad_length": 0, "not_finite": 0}
        self.services: dict = {}
        self.requests: list = []
        self.published = 0
        self.last_group = None
        self.last_single = None
        self.pub = node.create_publisher(JointState, f"{ns}/joint_states", 10)
        node.create_subscription(JointGroupCommand, f"{ns}/commands/joint_group", self.on_group, 10)
        node.create_subscription(JointSingleCommand, f"{ns}/commands/joint_single", self.on_single, 10)
        node.create_service(TorqueEnable, f"{ns}/torque_enable", self.on_torque)
        node.create_service(Reboot, f"{ns}/reboot_motors", self.on_reboot)
        node.create_service(OperatingModes, f"{ns}/set_operating_modes", self.on_modes)
        node.create_service(RobotInfo, f"{ns}/get_robot_info", self.on_info)
        node.create_service(RegisterValues, f"{ns}/get_motor_registers", self.on_registers("get_motor_registers"))
        node.create_service(RegisterValues, f"{ns}/set_motor_registers", self.on_registers("set_motor_registers"))

    # --- targets -------------------------------------------------------------------------------------------------
    def indices(self, cmd_type: str, name: str) -> list:
        if cmd_type == "group":
            return {"arm": list(range(6)), "gripper": [6], "all": list(range(7))}.get(name, [])
        if name in ARM_JOINTS:
            return [ARM_JOINTS.index(name)]
        if name == "gripper":
            return [6]
        return []

    def set_goal(self, idx: list, values: list) -> None:
        if not all(math.isfinite(v) for v in values):
            self.ignored["not_finite"] += 1
            return
        for i, v in zip(idx, values):
            if self.torque[i]:
                self.goal[i] = float(v)
            else:
                self.ignored["torque_off"] += 1

    def on_group(self, msg: JointGroupCommand) -> None:
        self.commands["joint_group"] += 1
        cmd = [float(v) for v in msg.cmd]
        self.last_group = {"name": msg.name, "cmd": [round(v, 5) for v in cmd]}
        idx = self.indices("group", msg.name)
        if not idx:
            self.ignored["unknown_name"] += 1
        elif len(cmd) != len(idx):
            self.ignored["bad_length"] += 1
        else:
            self.set_goal(idx, cmd)

    def on_single(self, msg: JointSingleCommand) -> None:
        self.commands["joint_single"] += 1
        self.last_single = {"name": msg.name, "cmd": round(float(msg.cmd), 5)}
        idx = self.indices("single", msg.name)
        if not idx:
            self.ignored["unknown_name"] += 1
        else:
            self.set_goal(idx, [float(msg.cmd)])

    # --- services ------------------------------------------------------------------------------------------------
    def record(self, service: str, request: dict) -> None:
        self.services[service] = self.services.get(service, 0) + 1
        if len(self.requests) < 50:
            # t: seconds since the peer started (to line service calls up with the agent's log)
            self.requests.append(
                {"service": service, "t": round(time.monotonic() - self.t0, 3), "request": request}
            )

    def on_torque(self, req, res):
        self.record("torque_enable", {"cmd_type": req.cmd_type, "name": req.name, "enable": req.enable})
        for i in self.indices(req.cmd_type, req.name):
            self.torque[i] = bool(req.enable)
            if req.enable:
                self.goal[i] = self.pos[i]  # xs_sdk holds the present position when torque comes on
        return res

    def on_reboot(self, req, res):
        self.record(
            "reboot_motors",
            {"cmd_type": req.cmd_type, "name": req.name, "enable": req.enable, "smart_reboot": req.smart_reboot},
        )
        for i in self.indices(req.cmd_type, req.name):
            self.torque[i] = bool(req.enable)
            self.goal[i] = self.pos[i]
        return res

    def on_modes(self, req, res):
        self.record(
            "set_operating_modes",
            {
                "cmd_type": req.cmd_type,
                "name": req.name,
                "mode": req.mode,
                "profile_type": req.profile_type,
                "profile_velocity": req.profile_velocity,
                "profile_acceleration": req.profile_acceleration,
            },
        )
        return res

    def on_info(self, req, res):
        self.record("get_robot_info", {"cmd_type": req.cmd_type, "name": req.name})
        idx = self.indices(req.cmd_type, req.name)
        names = ARM_JOINTS + ["gripper"]
        res.mode = "position"
        res.profile_type = "velocity"
        res.joint_names = [names[i] for i in idx]
        res.joint_ids = [i + 1 for i in idx]
        res.joint_lower_limits = [LOWER[i] for i in idx]
        res.joint_upper_limits = [UPPER[i] for i in idx]
        res.joint_velocity_limits = [math.pi] * len(idx)
        res.joint_sleep_positions = [0.0] * len(idx)
        res.joint_state_indices = list(idx)
        res.num_joints = len(idx)
        res.name = [names[i] for i in idx]
        return res

    def on_registers(self, service: str):
        def handler(req, res):
            self.record(service, {"cmd_type": req.cmd_type, "name": req.name, "reg": req.reg, "value": req.value})
            res.values = [int(req.value) if service == "set_motor_registers" else 0] * max(
                len(self.indices(req.cmd_type, req.name)), 1
            )
            return res

        return handler

    # --- motion + state --------------------------------------------------------------------------------------------
    def step(self, dt: float, tau: float) -> None:
        a = 1.0 - math.exp(-dt / tau) if tau > 0 else 1.0
        for i in range(7):
            new = self.pos[i] + (self.goal[i] - self.pos[i]) * a
            self.vel[i] = (new - self.pos[i]) / dt if dt > 0 else 0.0
            self.pos[i] = new

    def publish(self, stamp) -> None:
        finger = finger_of(self.pos[6], self.geometry)
        msg = JointState()
        msg.header.stamp = stamp
        msg.name = JOINT_NAMES
        msg.position = self.pos + [finger, -finger]
        msg.velocity = self.vel + [0.0, 0.0]
        msg.effort = [0.0] * 9
        self.pub.publish(msg)
        self.published += 1

    def report(self) -> dict:
        return {
            "commands": self.commands,
            "ignored": self.ignored,
            "services": self.services,
            "requests": self.requests,
            "last_group": self.last_group,
            "last_single": self.last_single,
            "joint_states_published": self.published,
            "final": {
                "arm": [round(v, 5) for v in self.pos[:6]],
                "gripper": round(self.pos[6], 5),
                "goal_arm": [round(v, 5) for v in self.goal[:6]],
                "goal_gripper": round(self.goal[6], 5),
                "torque": self.torque,
            },
        }


class XsSdkPeer(Node):
    def __init__(self, args) -> None:
        super().__init__("xs_sdk_peer")
        geometry = GEOMETRY[args.gripper_geometry]
        initial = [float(v) for v in args.initial_arm.split(",")] if args.initial_arm else HOME
        if len(initial) != 6:
            raise SystemExit("--initial-arm needs 6 comma-separated values")
        self.tau = args.tau
        self.arms = [
            Arm(self, ns, initial, args.initial_gripper, geometry) for ns in args.namespaces.split(",") if ns
        ]
        self.last_tick = time.monotonic()
        self.max_gap = 0.0
        self.gaps_over_50ms = 0
        # SIGUSR1 toggles a freeze: joint_states stop (a hung driver or a lost link); commands are still taken.
        self.frozen = False
        self.freezes = 0
        self.commands_while_frozen = 0
        self.commands_at_freeze = 0
        self.frozen_at = 0.0
        self.frozen_ref: list | None = None
        self.goal_drift_while_frozen = 0.0
        if self.arms:
            self.create_timer(1.0 / args.rate, self.tick)
        self.images = {}
        self.image_pubs = []
        self.compressed_pubs: list = []
        self.images_published = 0
        if args.image_hz > 0 and args.cameras:
            qos = (
                qos_profile_sensor_data
                if args.image_qos == "sensor"
                else QoSProfile(
                    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE
                )
            )
            w, h = args.image_width, args.image_height
            for k, cam in enumerate(args.cameras.split(",")):
                topic = f"/{cam}/camera/color/image_rect_raw"
                pub = self.create_publisher(Image, topic, qos) if args.image_transport != "compressed" else None
                # A per-camera gradient, built once (the data is copied at publish time).
                row = bytearray()
                for x in range(w):
                    row += bytes(((x * 255) // max(w - 1, 1), (k * 60) & 255, 128))
                data = bytearray()
                for y in range(h):
                    shade = (y * 255) // max(h - 1, 1)
                    row[2::3] = bytes([shade]) * w
                    data += row
                self.image_pubs.append((cam, pub, array.array("B", bytes(data))))
                if args.image_transport != "raw":
                    # image_transport's compressed topic: the same frame as JPEG, encoded once by ffmpeg.
                    jpeg = jpeg_of(bytes(data), w, h)
                    cpub = self.create_publisher(CompressedImage, f"{topic}/compressed", qos)
                    self.compressed_pubs.append((cam, cpub, array.array("B", jpeg)))
            self.image_size = (w, h)
            self.frame_id = 0
            self.create_timer(1.0 / args.image_hz, self.tick_images)

    def tick(self) -> None:
        now = time.monotonic()
        dt = now - self.last_tick
        self.last_tick = now
        self.max_gap = max(self.max_gap, dt)
        if dt > 0.05:
            self.gaps_over_50ms += 1
        stamp = self.get_clock().now().to_msg()
        for arm in self.arms:
            arm.step(dt, self.tau)
            if not self.frozen:
                arm.publish(stamp)
        if self.frozen and now - self.frozen_at >= FROZEN_SETTLE_S:
            # Goals FROZEN_SETTLE_S after the last joint state vs. every goal after it: a driver that holds moves 0.
            goals = [g for arm in self.arms for g in arm.goal]
            if self.frozen_ref is None:
                self.frozen_ref = goals
            self.goal_drift_while_frozen = max(
                [self.goal_drift_while_frozen] + [abs(a - b) for a, b in zip(goals, self.frozen_ref)]
            )

    def toggle_freeze(self) -> None:
        self.frozen = not self.frozen
        if self.frozen:
            self.freezes += 1
            self.frozen_at = time.monotonic()
            self.frozen_ref = None
            self.commands_at_freeze = self.commands_total()
        else:
            self.commands_while_frozen += self.commands_total() - self.commands_at_freeze
        print(f"xs_sdk_peer: joint_states {'frozen' if self.frozen else 'resumed'}", file=sys.stderr, flush=True)

    def commands_total(self) -> int:
        return sum(sum(arm.report()["commands"].values()) for arm in self.arms)

    def tick_images(self) -> None:
        w, h = self.image_size
        stamp = self.get_clock().now().to_msg()
        for cam, cpub, jpeg in self.compressed_pubs:
            cmsg = CompressedImage()
            cmsg.header.stamp = stamp
            cmsg.header.frame_id = f"{cam}_color_optical_frame"
            cmsg.format = "rgb8; jpeg compressed bgr8"
            cmsg.data = jpeg
            cpub.publish(cmsg)
        for cam, pub, data in self.image_pubs:
            if pub is None:
                continue
            msg = Image()
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cam}_color_optical_frame"
            msg.height = h
            msg.width = w
            msg.encoding = "rgb8"
            msg.is_bigendian = 0
            msg.step = 3 * w
            msg.data = data
            pub.publish(msg)
        self.images_published += 1

    def report(self) -> dict:
        return {
            "namespaces": {arm.ns: arm.report() for arm in self.arms},
            "image_ticks": self.images_published,
            # Longest gap between joint_states ticks (the agent's watchdog calls a state stale after 100 ms).
            "max_state_gap_ms": round(self.max_gap * 1000, 1),
            "state_gaps_over_50ms": self.gaps_over_50ms,
            "cameras": [c for c, p, _ in self.image_pubs if p is not None],
            "compressed_cameras": [c for c, _, _ in self.compressed_pubs],
            "freezes": self.freezes,
            # Largest goal change (rad) received more than FROZEN_SETTLE_S into a freeze.
            "goal_drift_while_frozen": self.goal_drift_while_frozen,
            "commands_while_frozen": self.commands_while_frozen
            + (self.commands_total() - self.commands_at_freeze if self.frozen else 0),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--namespaces", default="/follower_left,/follower_right", help="empty = no arms (cameras only)")
    ap.add_argument("--rate", type=float, default=100.0, help="joint_states Hz per arm (default 100)")
    ap.add_argument("--tau", type=float, default=0.03, help="first-order time constant (s), 0 = jump to goal")
    ap.add_argument("--initial-arm", default="", help="6 comma-separated radians (default the ALOHA home pose)")
    # Inside FOLLOWER_GRIPPER's jointClose 0.6197 .. jointOpen 1.6214 (normalised ~0.38): the agent rejects a gripper
    # state more than 0.5 outside [0, 1] (angle 0 would be -0.62 and fails the reset).
    ap.add_argument("--initial-gripper", type=float, default=1.0, help="gripper motor angle (rad, default 1.0)")
    ap.add_argument("--gripper-geometry", choices=sorted(GEOMETRY), default="vx300s")
    ap.add_argument("--cameras", default=",".join(CAMERAS), help="comma-separated; empty = no image topics")
    ap.add_argument("--image-hz", type=float, default=30.0, help="0 = no images")
    ap.add_argument("--image-width", type=int, default=640)
    ap.add_argument("--image-height", type=int, default=480)
    ap.add_argument("--image-qos", choices=["sensor", "reliable"], default="sensor")
    ap.add_argument(
        "--image-transport",
        choices=["raw", "compressed", "both"],
        default="raw",
        help="Image on <topic>, CompressedImage (JPEG) on <topic>/compressed, or both",
    )
    ap.add_argument("--duration", type=float, default=0.0, help="exit on its own after this many s (0 = never)")
    ap.add_argument("--ready-file", default="", help="touched once all endpoints exist")
    args = ap.parse_args()

    rclpy.init()
    node = XsSdkPeer(args)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGUSR1, lambda *_: node.toggle_freeze())
    print("xs_sdk_peer: ready", file=sys.stderr, flush=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    started = time.monotonic()
    try:
        while not stop["now"] and (args.duration <= 0 or time.monotonic() - started < args.duration):
            executor.spin_once(timeout_sec=0.05)
    except ExternalShutdownException:
        pass
    report = node.report()
    report["uptime_s"] = round(time.monotonic() - started, 2)
    print(json.dumps(report), flush=True)
    executor.remove_node(node)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
