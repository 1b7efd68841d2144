"""Launches the openpi-edge agent (`edge-agent start --robot aloha --transport ros2`) as a ROS 2 node.

The agent is a Node.js process (rclnodejs inside), so this runs it with ExecuteProcess; every option is a launch
argument. It talks to Interbotix's xs_sdk nodes (follower_left / follower_right) and the RealSense image topics
that aloha's own bringup starts; see ../README.md.

    ros2 launch packages/edge-agent/ros2/launch/edge_agent.launch.py policy:=ws://gpu-box:8000 prompt:="fold the towel"
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration

# packages/edge-agent/bin/edge-agent.js, next to this file's ros2/ folder.
_DEFAULT_BIN = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bin', 'edge-agent.js'))

# (name, default, description); an empty default means "leave the flag out" (the agent's own default applies).
_ARGS = [
    ('node_executable', 'node', 'Node.js executable (>= 20)'),
    ('edge_agent_bin', _DEFAULT_BIN, 'path to packages/edge-agent/bin/edge-agent.js'),
    ('ros_node_name', 'openpi_edge_agent', 'ROS 2 node name of the agent (--ros-node-name)'),
    ('policy', '', 'remote openpi policy server ws://host:port (--policy); empty = local bundle'),
    ('bundle', '', 'local model bundle directory (--bundle); empty = the demo bundle unless policy is set'),
    ('prompt', '', 'task prompt (--prompt); empty = the model/server default'),
    ('cameras', 'ros2', 'camera source: ros2 (the /<cam>/camera/color/image_rect_raw topics) or generated'),
    ('estop_topic', '/openpi_edge/estop', 'std_msgs/Bool e-stop topic, true = e-stop (--estop-topic)'),
    ('status_topic', '/openpi_edge/status', 'std_msgs/String agent state as JSON (--status-topic)'),
    ('hz', '50', 'control rate in Hz (--hz)'),
    ('episodes', '1', 'episodes (--episodes)'),
    ('max_steps', '0', 'steps per episode, 0 = until stopped (--max-steps)'),
    ('config', '', 'JSON config file (--config); flags given here override it'),
    ('extra_args', '', 'more edge-agent start flags, space separated'),
]

# launch argument -> edge-agent flag
_FLAGS = {
    'ros_node_name': '--ros-node-name',
    'policy': '--policy',
    'bundle': '--bundle',
    'prompt': '--prompt',
    'cameras': '--cameras',
    'estop_topic': '--estop-topic',
    'status_topic': '--status-topic',
    'hz': '--hz',
    'episodes': '--episodes',
    'max_steps': '--max-steps',
    'config': '--config',
}


def _agent(context):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in _ARGS}
    cmd = [value['node_executable'], value['edge_agent_bin'], 'start', '--robot', 'aloha', '--transport', 'ros2']
    for name, flag in _FLAGS.items():
        if value[name] != '':
            cmd += [flag, value[name]]
    cmd += value['extra_args'].split()
    # Ctrl-C reaches the agent as SIGINT: it latches the e-stop, holds the arms and exits; give it time to do so.
    return [ExecuteProcess(cmd=cmd, name=value['ros_node_name'], output='screen', sigterm_timeout='10')]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in _ARGS]
        + [OpaqueFunction(function=_agent)]
    )
