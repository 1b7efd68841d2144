"""rclpy side of `pnpm bench ros2` (bench/ros2.bench.ts, orchestrated by bench/ros2-inner.ts), real DDS.

Modes (--mode):

  echo       subscribes sensor_msgs/JointState on /bench/rtt_in and publishes every message unchanged on
             /bench/rtt_out (default QoS: reliable, keep last 10). The echo both round-trip clients talk to.
  rtt        the rclpy round-trip client: publishes a 14-joint JointState on /bench/rtt_in (header.frame_id =
             sequence number) and times it until the echo comes back on /bench/rtt_out, --n times at --hz (0 = back
             to back: the next one is sent as soon as the previous came back). One JSON line: round trips in ms
             (time.perf_counter). An echo later than 1 s counts as lost.
  images     publishes sensor_msgs/Image rgb8 --width x --height on /bench/cam<k>/image for k < --cameras at --hz
             (sensor-data QoS, like the camera topics of test/python/xs_sdk_peer.py). It waits until every
             publisher has a matched subscription, then --settle s (so the subscriber has matched it too), then
             publishes --frames ticks; header.stamp = ROS clock (system time) taken just before each publish,
             header.frame_id = sequence number. One JSON line: frames sent per camera, the publishing span,
             publish() call time per frame.
  image-sub  the rclpy twin of bench/ros2-probe.ts images: subscribes the same topics with the same QoS and records
             per frame latency = receive time - header.stamp (system clock, ms), counts, and its CPU use over the
             publishing schedule from the first frame (--frames / --hz s); reports on SIGTERM/SIGINT.

Run it only inside scripts/ros2-netns.sh with .venv-ros2/ros2-env.sh sourced. Touches --ready-file once its
endpoints exist; prints its JSON line on exit (SIGTERM/SIGINT, --duration s, or when the mode's work is done).
"""

import argparse
import array
import json
import signal
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

JOINTS = [f"joint_{i}" for i in range(14)]  # ALOHA's 2 x (6 arm joints + gripper)


def joint_state(seq: int) -> JointState:
    msg = JointState()
    msg.header.frame_id = str(seq)
    msg.name = JOINTS
    msg.position = [0.001 * seq + i for i in range(14)]
    msg.velocity = [0.0] * 14
    msg.effort = [0.0] * 14
    return msg


def touch(path: str) -> None:
    if path:
        with open(path, "w") as f:
            f.write("ready\n")


class Echo(Node):
    def __init__(self) -> None:
        super().__init__("openpi_bench_echo")
        self.echoed = 0
        self.pub = self.create_publisher(JointState, "/bench/rtt_out", 10)
        self.create_subscription(JointState, "/bench/rtt_in", self.on_msg, 10)

    def on_msg(self, msg: JointState) -> None:
        self.pub.publish(msg)
        self.echoed += 1


class RttClient(Node):
    def __init__(self) -> None:
        super().__init__("openpi_bench_rtt_py")
        self.pub = self.create_publisher(JointState, "/bench/rtt_in", 10)
        self.create_subscription(JointState, "/bench/rtt_out", self.on_msg, 10)
        self.back: dict = {}  # sequence number -> perf_counter_ns when its echo arrived

    def on_msg(self, msg: JointState) -> None:
        self.back[int(msg.header.frame_id)] = time.perf_counter_ns()


def run_rtt(args, node: RttClient, executor: SingleThreadedExecutor, stop: dict) -> dict:
    # Warm-up: ping (negative sequence numbers) until the echo path is matched both ways.
    seq = -1
    t_end = time.monotonic() + 20.0
    while not any(k < 0 for k in node.back) and time.monotonic() < t_end and not stop["now"]:
        node.pub.publish(joint_state(seq))
        seq -= 1
        t_next = time.monotonic() + 0.05
        while time.monotonic() < t_next:
            executor.spin_once(timeout_sec=max(0.0, t_next - time.monotonic()))
    if not any(k < 0 for k in node.back):
        return {"error": "echo path never matched"}
    node.back.clear()
    period = 1.0 / args.hz if args.hz > 0 else 0.0
    rtts = []
    lost = 0
    t0 = time.monotonic()
    for i in range(args.n):
        if stop["now"]:
            break
        if period > 0:
            # Absolute schedule: the i-th round trip starts at t0 + i * period.
            due = t0 + i * period
            while time.monotonic() < due:
                executor.spin_once(timeout_sec=max(0.0, due - time.monotonic()))
        msg = joint_state(i)
        sent = time.perf_counter_ns()
        node.pub.publish(msg)
        deadline = time.monotonic() + 1.0  # an echo later than 1 s counts as lost
        while i not in node.back and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=max(0.0, deadline - time.monotonic()))
        back = node.back.pop(i, None)
        if back is None:
            lost += 1
        else:
            rtts.append((back - sent) / 1e6)
    return {"n": args.n, "hz": args.hz, "lost": lost, "rtt_ms": [round(v, 4) for v in rtts]}


class Images(Node):
    def __init__(self, args) -> None:
        super().__init__("openpi_bench_images")
        w, h = args.width, args.height
        self.cams = []
        for k in range(args.cameras):
            pub = self.create_publisher(Image, f"/bench/cam{k}/image", qos_profile_sensor_data)
            msg = Image()
            msg.height = h
            msg.width = w
            msg.encoding = "rgb8"
            msg.is_bigendian = 0
            msg.step = 3 * w
            # A per-camera constant pattern, built once; rclpy copies it into the wire message at every publish.
            msg.data = array.array("B", bytes([(k * 40 + i) & 255 for i in range(256)]) * (w * h * 3 // 256 + 1))[
                : w * h * 3
            ]
            self.cams.append((pub, msg))


def run_images(args, node: Images, stop: dict) -> dict:
    t_end = time.monotonic() + 20.0
    while any(pub.get_subscription_count() == 0 for pub, _ in node.cams) and time.monotonic() < t_end:
        if stop["now"]:
            return {"error": "stopped before a subscriber matched"}
        time.sleep(0.02)
    matched = all(pub.get_subscription_count() > 0 for pub, _ in node.cams)
    time.sleep(args.settle)
    period = 1.0 / args.hz
    publish_ms = []
    late_ticks = 0
    ticks = 0
    t0 = time.monotonic()
    t_last = t0
    for i in range(args.frames):
        if stop["now"]:
            break
        due = t0 + i * period
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now - due > period:
            late_ticks += 1
        t_last = time.monotonic()
        for pub, msg in node.cams:
            msg.header.frame_id = str(i)
            msg.header.stamp = node.get_clock().now().to_msg()
            t = time.perf_counter_ns()
            pub.publish(msg)
            publish_ms.append((time.perf_counter_ns() - t) / 1e6)
        ticks += 1
    span = t_last - t0  # first tick's start to the last tick's start: (ticks - 1) periods when on time
    # Best effort: samples still in flight when the writer goes away are lost, so linger before exiting.
    time.sleep(args.linger)
    publish_ms.sort()

    def q(p: float):
        # The sample at rank min(n - 1, floor(p * n)), as bench/lib.ts summarize() ranks.
        return round(publish_ms[min(len(publish_ms) - 1, int(p * len(publish_ms)))], 4) if publish_ms else None

    return {
        "matched": matched,
        "cameras": args.cameras,
        "width": args.width,
        "height": args.height,
        "hz": args.hz,
        "sent_per_camera": ticks,
        "span_s": round(span, 4),
        "late_ticks": late_ticks,
        "publish_ms_p50": q(0.5),
        "publish_ms_p99": q(0.99),
    }


class ImageSub(Node):
    """The rclpy twin of bench/ros2-probe.ts images: the same topics and QoS, per-frame latency and counts."""

    def __init__(self, args) -> None:
        super().__init__("openpi_bench_image_sub")
        self.window_s = args.frames / args.hz
        self.cams = []
        self.first = None  # (monotonic, process_time) at the first frame
        self.cpu_pct = None  # CPU time per wall time over the streaming window (% of one core)
        for k in range(args.cameras):
            cam = {"received": 0, "bytes": 0, "badSize": 0, "lastSeq": -1, "outOfOrder": 0, "latency": []}
            self.cams.append(cam)
            self.create_subscription(
                Image, f"/bench/cam{k}/image", lambda msg, cam=cam: self.on_image(cam, msg), qos_profile_sensor_data
            )

    def on_image(self, cam: dict, msg: Image) -> None:
        now_ns = time.time_ns()
        if self.first is None:
            self.first = (time.monotonic(), time.process_time())
        cam["received"] += 1
        cam["bytes"] += len(msg.data)
        if len(msg.data) != msg.width * msg.height * 3:
            cam["badSize"] += 1
        seq = int(msg.header.frame_id)
        if seq <= cam["lastSeq"]:
            cam["outOfOrder"] += 1
        cam["lastSeq"] = seq
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        cam["latency"].append(round((now_ns - stamp_ns) / 1e6, 3))

    def check_window(self) -> None:
        if self.first is not None and self.cpu_pct is None:
            wall = time.monotonic() - self.first[0]
            if wall >= self.window_s:
                self.cpu_pct = 100.0 * (time.process_time() - self.first[1]) / wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["echo", "rtt", "images", "image-sub"], required=True)
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--duration", type=float, default=120.0, help="echo, image-sub: exit after this many s")
    ap.add_argument("--n", type=int, default=1000, help="rtt: round trips")
    ap.add_argument("--hz", type=float, default=50.0, help="rtt: 0 = back to back; images: frames per s per camera")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--frames", type=int, default=150, help="images: ticks to publish (one frame per camera each)")
    # image-sub takes --cameras, --frames and --hz too: frames / hz s from the first frame is its CPU window.
    ap.add_argument("--settle", type=float, default=0.5, help="images: s to wait after the publishers matched")
    ap.add_argument("--linger", type=float, default=0.5, help="images: s to stay up after the last frame")
    args = ap.parse_args()

    rclpy.init()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    executor = SingleThreadedExecutor()
    if args.mode == "echo":
        node = Echo()
    elif args.mode == "rtt":
        node = RttClient()
    elif args.mode == "image-sub":
        node = ImageSub(args)
    else:
        node = Images(args)
    executor.add_node(node)
    touch(args.ready_file)
    result: dict = {"mode": args.mode}
    try:
        if args.mode == "echo":
            started = time.monotonic()
            while not stop["now"] and time.monotonic() - started < args.duration:
                executor.spin_once(timeout_sec=0.05)
            result["echoed"] = node.echoed
        elif args.mode == "image-sub":
            started = time.monotonic()
            while not stop["now"] and time.monotonic() - started < args.duration:
                executor.spin_once(timeout_sec=0.05)
                node.check_window()
            result.update({"cpuPct": node.cpu_pct, "perCamera": node.cams})
        elif args.mode == "rtt":
            result.update(run_rtt(args, node, executor, stop))
        else:
            result.update(run_images(args, node, stop))
    except ExternalShutdownException:
        pass
    print(json.dumps(result), flush=True)
    executor.remove_node(node)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
