"""ROS 2 smoke peer (rclpy, real DDS): publishes sensor_msgs/JointState on /smoke/joint_states at --rate Hz (header
stamp = send time, name = a sequence number) and echoes every JointState it receives on /smoke/echo_in back on
/smoke/echo_out unchanged, so the other side can measure round trips. Run it only inside scripts/ros2-netns.sh.

  .venv-ros2/bin/python test/python/ros2_smoke_peer.py --rate 50 --duration 30
Prints one JSON line on exit: {"published": n, "echoed": m}.
"""

import argparse
import json
import signal
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import JointState


class SmokePeer(Node):
    def __init__(self, rate: float) -> None:
        super().__init__("openpi_smoke_peer")
        self.published = 0
        self.echoed = 0
        self.pub = self.create_publisher(JointState, "/smoke/joint_states", 10)
        self.echo_pub = self.create_publisher(JointState, "/smoke/echo_out", 10)
        self.create_subscription(JointState, "/smoke/echo_in", self.on_echo, 10)
        self.create_timer(1.0 / rate, self.tick)

    def tick(self) -> None:
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = str(self.published)
        msg.name = [f"joint_{i}" for i in range(7)]
        msg.position = [0.01 * self.published + i for i in range(7)]
        msg.velocity = [0.0] * 7
        msg.effort = [0.0] * 7
        self.pub.publish(msg)
        self.published += 1

    def on_echo(self, msg: JointState) -> None:
        self.echo_pub.publish(msg)
        self.echoed += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds before exiting on its own")
    args = ap.parse_args()
    rclpy.init()
    node = SmokePeer(args.rate)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    deadline = node.get_clock().now().nanoseconds + int(args.duration * 1e9)
    try:
        while not stop["now"] and node.get_clock().now().nanoseconds < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
    except ExternalShutdownException:
        pass
    print(json.dumps({"published": node.published, "echoed": node.echoed}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
