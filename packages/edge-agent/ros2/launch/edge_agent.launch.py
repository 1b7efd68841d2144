"""Launches the openpi-edge agent (`edge-agent start --transport ros2`, ALOHA or UR5) as a ROS 2 node.

The agent is a Node.js process (rclnodejs inside), so this runs it with ExecuteProcess; every option is a launch
argument, handed to the agent as a ROS 2 parameter of the same name (`--ros-args -p name:=value`). With robot:=aloha
it talks to Interbotix's xs_sdk nodes (follower_left / follower_right) and the RealSense image topics that aloha's
own bringup starts; with robot:=ur5 to ur_robot_driver. See ../README.md.

    ros2 launch packages/edge-agent/ros2/launch/edge_agent.launch.py policy:=ws://gpu-box:8000 prompt:="fold the towel"
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration

# packages/edge-agent/bin/edge-agent.js, next to this file's ros2/ folder.
_DEFAULT_BIN = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bin', 'edge-agent.js'))

# (name, default, description). The ones in _PARAMS are the agent's ROS 2 parameters: passed as
# `--ros-args -p name:=value` (an empty value is left out: the agent's own default applies) and declared read-only
# by the agent on its node with the values it runs with (packages/edge-agent/src/ros2/agent-parameters.ts).
_ARGS = [
    ('node_executable', 'node', 'Node.js executable (>= 20)'),
    ('edge_agent_bin', _DEFAULT_BIN, 'path to packages/edge-agent/bin/edge-agent.js'),
    ('robot', 'aloha', 'robot plugin: aloha or ur5'),
    ('transport', 'ros2', 'robot transport: ros2 (xs_sdk / ur_robot_driver), or the plugin\'s direct links'),
    ('ros_node_name', 'openpi_edge_agent', 'ROS 2 node name of the agent'),
    ('policy', '', 'remote openpi policy server ws://host:port; empty = local bundle'),
    ('bundle', '', 'local model bundle directory; empty = the robot\'s demo bundle unless policy is set'),
    ('prompt', '', 'task prompt; empty = the model/server default'),
    ('cameras', '', 'ALOHA: all cameras from ros2 (the image topics) or generated; empty = the transport\'s default (ros2)'),
    ('estop_topic', '/openpi_edge/estop', 'std_msgs/Bool e-stop topic, true = e-stop'),
    ('status_topic', '/openpi_edge/status', 'std_msgs/String agent state as JSON'),
    ('hz', '50', 'control rate in Hz'),
    ('episodes', '1', 'episodes'),
    ('max_steps', '0', 'steps per episode, 0 = until stopped'),
    ('config', '', 'JSON config file; the parameters given here override it'),
    ('extra_args', '', 'more edge-agent start flags, space separated'),
]

# The agent's parameters (each the `edge-agent start` flag of the same name with dashes).
_PARAMS = [
    'robot',
    'transport',
    'ros_node_name',
    'policy',
    'bundle',
    'prompt',
    'cameras',
    'estop_topic',
    'status_topic',
    'hz',
    'episodes',
    'max_steps',
    'config',
]


def _quoted(value):
    """A -p value that stays a string for ROS's YAML typing (a prompt such as `42` or `true`)."""
    return "'" + value.replace("'", "''") + "'"


def _agent(context):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in _ARGS}
    cmd = [value['node_executable'], value['edge_agent_bin'], 'start'] + value['extra_args'].split()
    cmd += ['--ros-args']
    for name in _PARAMS:
        if value[name] == '':
            continue
        text = value[name] if name in ('hz', 'episodes', 'max_steps') else _quoted(value[name])
        cmd += ['-p', f'{name}:={text}']
    cmd += ['--']
    # Ctrl-C reaches the agent as SIGINT: it latches the e-stop, holds the arm(s) and exits; give it time to do so.
    return [ExecuteProcess(cmd=cmd, name=value['ros_node_name'], output='screen', sigterm_timeout='10')]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in _ARGS]
        + [OpaqueFunction(function=_agent)]
    )
