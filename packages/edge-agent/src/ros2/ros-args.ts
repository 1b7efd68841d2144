/**
 * ROS 2 command-line arguments (`--ros-args ... [--]`) as a ROS node takes them, for `edge-agent start` launched as
 * a ROS 2 node: `-p name:=value` / `--param name:=value` (values typed like ROS's YAML scalars) and
 * `-r __node:=name` / `--remap __node:=name`. Anything else inside `--ros-args` is refused by name: silently dropping
 * an argument meant for the node would run it with settings the user did not ask for.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';

/** ROS 2 parameter types used here (rcl_interfaces/msg/ParameterType's scalar ones). */
export type Ros2ParameterType = 'bool' | 'integer' | 'double' | 'string';

export type Ros2ParameterValue = boolean | number | string;

/** One `-p name:=value`, value typed as ROS would type it. */
export interface RosParamArg {
  name: string;
  type: Ros2ParameterType;
  value: Ros2ParameterValue;
  /** The text after `:=`, as given. */
  text: string;
}

export interface SplitRosArgs {
  /** `argv` without the ROS arguments. */
  args: string[];
  /** `-p` parameters in order (a repeated name: the last one wins, as in rcl). */
  params: RosParamArg[];
  /** `-r __node:=name`. */
  nodeName?: string;
  /** Whether `--ros-args` appeared at all. */
  present: boolean;
}

const ROS_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTEGER = /^[-+]?(0|[1-9][0-9]*)$/;
const DOUBLE_RE = /^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/;

/**
 * Types a parameter value the way rcl's YAML parser does for scalars: true/false → bool, an integer → integer, a
 * number with a point or exponent → double, a quoted or any other text → string.
 */
export function parseRosParamValue(text: string): { type: Ros2ParameterType; value: Ros2ParameterValue } {
  const single = /^'(.*)'$/.exec(text);
  if (single !== null) return { type: 'string', value: (single[1] ?? '').replaceAll("''", "'") };
  const double = /^"(.*)"$/.exec(text);
  if (double !== null) return { type: 'string', value: double[1] ?? '' };
  if (/^(true|True|TRUE)$/.test(text)) return { type: 'bool', value: true };
  if (/^(false|False|FALSE)$/.test(text)) return { type: 'bool', value: false };
  if (INTEGER.test(text)) return { type: 'integer', value: Number.parseInt(text, 10) };
  if (DOUBLE_RE.test(text)) {
    const t = text.toLowerCase();
    const value = t.endsWith('inf')
      ? t.startsWith('-')
        ? -Infinity
        : Infinity
      : t.endsWith('nan')
        ? Number.NaN
        : Number(text);
    return { type: 'double', value };
  }
  return { type: 'string', value: text };
}

function bad(message: string, context: Record<string, unknown>): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_ARGUMENT', message, { ...context, option: 'ros-args' });
}

function assignment(text: string | undefined, what: string): [string, string] {
  if (text === undefined) throw bad(`--ros-args: ${what} needs name:=value`, {});
  const i = text.indexOf(':=');
  if (i <= 0) throw bad(`--ros-args: ${what} '${text}' is not name:=value`, { value: text });
  return [text.slice(0, i), text.slice(i + 2)];
}

/**
 * `argv` cut into the arguments outside ROS sections and each section's contents: a section starts at `--ros-args`
 * and ends at `--` or the end (several are allowed, as rcl takes them). Nothing is interpreted.
 */
export function rosArgSections(argv: readonly string[]): { args: string[]; sections: string[][] } {
  const args: string[] = [];
  const sections: string[][] = [];
  let section: string[] | null = null;
  for (const a of argv) {
    if (a === '--ros-args') {
      section = [];
      sections.push(section);
    } else if (section !== null && a === '--') section = null;
    else (section ?? args).push(a);
  }
  return { args, sections };
}

/** Splits ROS arguments from the rest of `argv` (several `--ros-args` sections allowed, each ends at `--`). */
export function splitRosArgs(argv: readonly string[]): SplitRosArgs {
  const { args, sections } = rosArgSections(argv);
  const params = new Map<string, RosParamArg>();
  let nodeName: string | undefined;
  for (const section of sections) {
    for (let i = 0; i < section.length; i++) {
      const r = section[i] as string;
      if (r === '-p' || r === '--param') {
        const [name, text] = assignment(section[++i], r);
        if (!ROS_NAME.test(name)) throw bad(`--ros-args: '${name}' is not a parameter name`, { name });
        params.set(name, { name, text, ...parseRosParamValue(text) });
      } else if (r === '-r' || r === '--remap') {
        const [from, to] = assignment(section[++i], r);
        if (from !== '__node') {
          throw bad(`--ros-args: only the node name can be remapped (-r __node:=name), not '${from}'`, {
            name: from,
          });
        }
        if (!ROS_NAME.test(to)) throw bad(`--ros-args: '${to}' is not a node name`, { name: to });
        nodeName = to;
      } else {
        throw bad(
          `--ros-args: '${r}' is not supported here (only -p/--param name:=value and -r/--remap __node:=name)`,
          { value: r },
        );
      }
    }
  }
  return {
    args,
    params: [...params.values()],
    ...(nodeName === undefined ? {} : { nodeName }),
    present: sections.length > 0,
  };
}
