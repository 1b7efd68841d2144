"""An rclpy observer of the openpi-edge agent as a ROS 2 node (packages/edge-agent/test/ros2-real/agent-node.ros2.test.ts).

Over real DDS, as any ROS 2 tool would see the agent:
  1. waits for the node's parameter services (<node>/list_parameters ...), lists every parameter, reads its type and
     value (get_parameters) and descriptor (describe_parameters), and tries to set one (set_parameters: refused when
     the agent declared it read-only);
  2. finds the agent in the graph (node names, and the types of its e-stop and status topics);
  3. reads the status topic (std_msgs/String, JSON) until a message arrives;
  4. publishes std_msgs/Bool true on the e-stop topic until a status message shows the e-stop latched (source ros2).
Prints one JSON line on stdout with everything it saw and exits 0; exits 1 (with a JSON "error") on a timeout.
Run it only inside scripts/ros2-netns.sh with .venv-ros2/ros2-env.sh sourced.
"""

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
from rclpy.node import Node
from std_msgs.msg import Bool, String

TYPE_NAMES = {
    ParameterType.PARAMETER_BOOL: "bool",
    ParameterType.PARAMETER_INTEGER: "integer",
    ParameterType.PARAMETER_DOUBLE: "double",
    ParameterType.PARAMETER_STRING: "string",
}


def value_of(v: ParameterValue) -> Any:
    return {
        ParameterType.PARAMETER_BOOL: v.bool_value,
        ParameterType.PARAMETER_INTEGER: v.integer_value,
        ParameterType.PARAMETER_DOUBLE: v.double_value,
        ParameterType.PARAMETER_STRING: v.string_value,
    }.get(v.type)


def call(node: Node, srv_type: Any, name: str, request: Any, deadline: float) -> Any:
    client = node.create_client(srv_type, name)
    while not client.wait_for_service(timeout_sec=0.2):
        if time.monotonic() > deadline:
            raise TimeoutError(f"service {name} not available")
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=max(0.1, deadline - time.monotonic()))
    if not future.done():
        raise TimeoutError(f"service {name} did not answer")
    return future.result()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True, help="the agent's node, absolute (e.g. /cell_agent)")
    ap.add_argument("--estop-topic", default="/openpi_edge/estop")
    ap.add_argument("--status-topic", default="/openpi_edge/status")
    ap.add_argument("--timeout", type=float, default=60.0, help="s for the whole run")
    ap.add_argument("--ready-file", default="")
    args = ap.parse_args()

    rclpy.init()
    node = rclpy.create_node("openpi_edge_observer")
    statuses: list[dict[str, Any]] = []
    node.create_subscription(String, args.status_topic, lambda m: statuses.append(json.loads(m.data)), 10)
    estop_pub = node.create_publisher(Bool, args.estop_topic, 10)
    if args.ready_file:
        pathlib.Path(args.ready_file).touch()
    deadline = time.monotonic() + args.timeout
    out: dict[str, Any] = {}
    try:
        listed = call(node, ListParameters, f"{args.node}/list_parameters", ListParameters.Request(), deadline)
        names = sorted(listed.result.names)
        got = call(node, GetParameters, f"{args.node}/get_parameters", GetParameters.Request(names=names), deadline)
        described = call(
            node, DescribeParameters, f"{args.node}/describe_parameters", DescribeParameters.Request(names=names), deadline
        )
        out["parameters"] = {
            n: {
                "type": TYPE_NAMES.get(v.type, f"type {v.type}"),
                "value": value_of(v),
                "read_only": d.read_only,
                "description": d.description,
            }
            for n, v, d in zip(names, got.values, described.descriptors)
        }
        attempt = SetParameters.Request(
            parameters=[
                Parameter(name="hz", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=10.0))
            ]
        )
        setr = call(node, SetParameters, f"{args.node}/set_parameters", attempt, deadline)
        out["set_hz"] = {"successful": setr.results[0].successful, "reason": setr.results[0].reason}

        ns = args.node.rsplit("/", 1)

        def graph_nodes() -> list[str]:
            return sorted(
                f"{(space.rstrip('/') + '/') if space != '/' else '/'}{name}"
                for name, space in node.get_node_names_and_namespaces()
            )

        def agent_endpoints() -> bool:
            subs = node.get_subscriptions_info_by_topic(args.estop_topic)
            pubs = node.get_publishers_info_by_topic(args.status_topic)
            return any(i.node_name == ns[-1] for i in subs) and any(i.node_name == ns[-1] for i in pubs)

        # The graph (node names from ros_discovery_info, endpoints) can lag behind the services answering above:
        # wait for the agent's node and its two endpoints, up to the deadline, before taking the snapshot.
        while time.monotonic() < deadline and not (args.node in graph_nodes() and agent_endpoints()):
            rclpy.spin_once(node, timeout_sec=0.1)
        out["nodes"] = graph_nodes()
        topics = dict(node.get_topic_names_and_types())
        out["topic_types"] = {t: topics.get(t, []) for t in (args.estop_topic, args.status_topic)}
        out["agent_subscribes_estop"] = any(
            info.node_name == ns[-1] for info in node.get_subscriptions_info_by_topic(args.estop_topic)
        )
        out["agent_publishes_status"] = any(
            info.node_name == ns[-1] for info in node.get_publishers_info_by_topic(args.status_topic)
        )

        while not statuses:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no message on {args.status_topic}")
            rclpy.spin_once(node, timeout_sec=0.1)
        out["first_status"] = statuses[0]

        sent = 0
        while True:
            latched = [s for s in statuses if s.get("estop") is not None]
            if latched:
                out["estop_status"] = latched[0]
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the e-stop never showed in the status")
            estop_pub.publish(Bool(data=True))
            sent += 1
            rclpy.spin_once(node, timeout_sec=0.2)
        out["estop_sent"] = sent
        out["statuses"] = len(statuses)
    except TimeoutError as e:
        out["error"] = str(e)
        print(json.dumps(out), flush=True)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
