/**
 * `--ros-args` for the agent launched as a ROS 2 node: ROS's scalar typing of `-p` values, the parameter → flag
 * mapping with its refusals, `-r __node:=`, and rcl's own copy of the arguments stripped (it would clash with the
 * declared parameter types). Real-DDS behaviour: test/ros2-real/agent-node.ros2.test.ts.
 */
import { realClock } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { withRosArgs } from '../../src/cli/start.js';
import { AGENT_ROS2_PARAMETERS, rosParamsToArgs } from '../../src/ros2/agent-parameters.js';
import { openAgentRos2Topics } from '../../src/ros2/agent-topics.js';
import { parseRosParamValue, rosArgSections, splitRosArgs } from '../../src/ros2/ros-args.js';
import { EStop } from '../../src/safety/estop.js';
import { FakeRos2Graph } from './fake-ros2.js';

describe('parseRosParamValue', () => {
  it('types scalars as rcl does', () => {
    expect(parseRosParamValue('50')).toEqual({ type: 'integer', value: 50 });
    expect(parseRosParamValue('-3')).toEqual({ type: 'integer', value: -3 });
    expect(parseRosParamValue('50.0')).toEqual({ type: 'double', value: 50 });
    expect(parseRosParamValue('1e3')).toEqual({ type: 'double', value: 1000 });
    expect(parseRosParamValue('true')).toEqual({ type: 'bool', value: true });
    expect(parseRosParamValue('False')).toEqual({ type: 'bool', value: false });
    expect(parseRosParamValue("'50'")).toEqual({ type: 'string', value: '50' });
    expect(parseRosParamValue("'it''s'")).toEqual({ type: 'string', value: "it's" });
    expect(parseRosParamValue('"fold the towel"')).toEqual({ type: 'string', value: 'fold the towel' });
    expect(parseRosParamValue('ws://gpu:8000')).toEqual({ type: 'string', value: 'ws://gpu:8000' });
    expect(parseRosParamValue('')).toEqual({ type: 'string', value: '' });
  });
});

describe('splitRosArgs', () => {
  it('takes -p/--param and -r __node out of every --ros-args section up to --', () => {
    const r = splitRosArgs([
      '--robot',
      'aloha',
      '--ros-args',
      '-p',
      'hz:=25',
      '--param',
      'prompt:=x',
      '-r',
      '__node:=cell',
      '--',
      '--episodes',
      '2',
      '--ros-args',
      '-p',
      'hz:=30',
    ]);
    expect(r.args).toEqual(['--robot', 'aloha', '--episodes', '2']);
    expect(r.params.map((p) => [p.name, p.value])).toEqual([
      ['hz', 30],
      ['prompt', 'x'],
    ]);
    expect(r.nodeName).toBe('cell');
    expect(r.present).toBe(true);
    expect(splitRosArgs(['--hz', '5']).present).toBe(false);
  });

  it('refuses what it does not apply, by name', () => {
    expect(() => splitRosArgs(['--ros-args', '--log-level', 'debug'])).toThrow(
      /'--log-level' is not supported/,
    );
    expect(() => splitRosArgs(['--ros-args', '-p', 'hz=5'])).toThrow(/'hz=5' is not name:=value/);
    expect(() => splitRosArgs(['--ros-args', '-p'])).toThrow(/-p needs name:=value/);
    expect(() => splitRosArgs(['--ros-args', '-r', '/a:=/b'])).toThrow(/only the node name can be remapped/);
    expect(() => splitRosArgs(['--ros-args', '-r', '__node:=bad-name'])).toThrow(/not a node name/);
  });
});

describe('rosParamsToArgs / withRosArgs', () => {
  const p = (text: string) => splitRosArgs(['--ros-args', '-p', text]).params;

  it('maps each launch-file parameter to its flag; empty strings leave the flag out', () => {
    expect(rosParamsToArgs(p('hz:=25'), [])).toEqual(['--hz', '25']);
    expect(rosParamsToArgs(p('hz:=12.5'), [])).toEqual(['--hz', '12.5']);
    expect(rosParamsToArgs(p('prompt:=42'), [])).toEqual(['--prompt', '42']);
    expect(rosParamsToArgs(p("policy:=''"), [])).toEqual([]);
    expect(AGENT_ROS2_PARAMETERS.map((s) => s.name)).toContain('max_steps');
  });

  it('refuses unknown names, wrong types and a parameter given with its flag', () => {
    expect(() => rosParamsToArgs(p('speed:=1'), [])).toThrow(
      /unknown parameter 'speed' \(parameters: robot, /,
    );
    expect(() => rosParamsToArgs(p('episodes:=1.5'), [])).toThrow(
      /parameter 'episodes' must be an integer, got double '1.5'/,
    );
    expect(() => rosParamsToArgs(p('hz:=fast'), [])).toThrow(
      /'hz' must be a finite number, got string 'fast'/,
    );
    expect(() => rosParamsToArgs(p('hz:=.inf'), [])).toThrow(/finite number/);
    expect(() => rosParamsToArgs(p('hz:=25'), ['--hz', '30'])).toThrow(/'hz' and flag --hz both given/);
    expect(() => rosParamsToArgs(p('hz:=25'), ['--hz=30'])).toThrow(/both given/);
  });

  it('withRosArgs: -r __node becomes --ros-node-name and a ROS 2 node gets its e-stop topic', () => {
    expect(withRosArgs(['--robot', 'ur5'])).toEqual(['--robot', 'ur5']);
    expect(withRosArgs(['--ros-args', '-p', 'episodes:=2', '-r', '__node:=cell'])).toEqual([
      '--episodes',
      '2',
      '--ros-node-name',
      'cell',
      '--estop-topic',
      '/openpi_edge/estop',
    ]);
    expect(withRosArgs(['--estop-topic', '/x', '--ros-args'])).toEqual(['--estop-topic', '/x']);
    expect(() => withRosArgs(['--ros-node-name', 'a', '--ros-args', '-r', '__node:=b'])).toThrow(
      /both given/,
    );
  });

  it('rosArgSections: what rcl is handed (the process arguments without the ROS sections)', () => {
    expect(
      rosArgSections([
        'node',
        'cli',
        'start',
        '--ros-args',
        '-p',
        'hz:=5',
        '--',
        '--x',
        '--ros-args',
        '-p',
        'a:=1',
      ]).args,
    ).toEqual(['node', 'cli', 'start', '--x']);
  });
});

describe('openAgentRos2Topics', () => {
  it('a node whose parameters cannot be declared is destroyed again (nothing left to keep the process alive)', async () => {
    const graph = new FakeRos2Graph();
    const param = { name: 'hz', type: 'double', value: 50, description: 'x', readOnly: true } as const;
    const err = await openAgentRos2Topics({
      context: graph,
      estopTopic: '/openpi_edge/estop',
      estop: new EStop({ clock: realClock }),
      status: () => null,
      parameters: [param, param],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_ARGUMENT', context: { parameter: 'hz' } });
    expect(graph.nodes.size).toBe(0);
  });
});
