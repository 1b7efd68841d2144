/**
 * `edge-agent emulate aloha [--dir <folder>]`: two emulated ViperX 300 follower arms on virtual serial ports (socat
 * pty pairs). Prints one line per arm, `left /dev/...` / `right /dev/...`, then `ready` (scripts and tests wait for
 * it), and serves until SIGINT / SIGTERM. The arms start at ALOHA's home pose. Point `start --transport serial --port-left ... --port-right ...` at them.
 *
 * `edge-agent emulate ur5 [options]`: an emulated UR5e (or CB3 UR5) controller on loopback TCP ports — RTDE,
 * dashboard, URScript ports (robots/ur/emulator). Prints `ready rtde=<port> dashboard=<port> ...` once it
 * listens, and serves until SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { ALOHA_DEFAULT_RESET_POSE } from '../robots/aloha/constants.js';
import { emulateAloha } from '../robots/aloha/emulate.js';
import type { CliCommand } from './main.js';

const HELP = `usage: edge-agent emulate aloha [options]
       edge-agent emulate ur5 [options]

aloha: two emulated ViperX 300 follower arms (Dynamixel Protocol 2.0, 1 Mbps) on socat pseudo-terminals.

  --dir <folder>   where to create the device links follower_left / follower_right (default: a fresh temp folder)

  Then, in another shell:
  pnpm --filter edge-agent start --robot aloha --transport serial --port-left <left> --port-right <right>

ur5: an emulated UR controller (RTDE, dashboard, URScript ports) on loopback; ur_rtde and the UR driver drive it.

  --host <addr>              loopback address to listen on (default 127.0.0.1; any 127.x.x.x works on Linux)
  --rtde-port <n>            default 30004 (0 = ephemeral, for every port option)
  --dashboard-port <n>       default 29999
  --primary-port <n>         default 30001
  --secondary-port <n>       default 30002
  --realtime-port <n>        default 30003
  --script-ports <a,b,c>     primary,secondary,realtime at once
  --series <e-series|cb3>    e-series: 5.11.1.108, 500 Hz (default); cb3: 3.15.7.106, 125 Hz
  --start-mode <power_off|running>   power_off (default) needs 'power on' + 'brake release' like a booted arm
  --unlock-delay-ms <n>      protective-stop unlock delay (default 5000, as on a real arm)
  --local                    e-Series local control: dashboard refuses robot commands, script ports refuse
  --verbose                  log dashboard commands, RTDE setups, programs and text messages

  -h, --help`;

const OPTIONS = {
  dir: { type: 'string' },
  host: { type: 'string' },
  'rtde-port': { type: 'string' },
  'dashboard-port': { type: 'string' },
  'primary-port': { type: 'string' },
  'secondary-port': { type: 'string' },
  'realtime-port': { type: 'string' },
  'script-ports': { type: 'string' },
  series: { type: 'string' },
  'start-mode': { type: 'string' },
  'unlock-delay-ms': { type: 'string' },
  local: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean;
};

const UR_ONLY = Object.keys(OPTIONS).filter((k) => k !== 'dir' && k !== 'help');

function badArgument(message: string, context: Record<string, unknown>): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_ARGUMENT', `${message}\n\n${HELP}`, context);
}

function portOption(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 65535) {
    throw badArgument(`emulate ur5: --${name} must be a port 0..65535, got '${text}'`, {
      option: name,
      value: text,
    });
  }
  return n;
}

function waitForSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    const onInt = (): void => {
      process.off('SIGTERM', onTerm);
      resolve('SIGINT');
    };
    const onTerm = (): void => {
      process.off('SIGINT', onInt);
      resolve('SIGTERM');
    };
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

async function emulateAlohaCommand(values: Values): Promise<number> {
  const stray = UR_ONLY.filter((k) => values[k as keyof Values] !== undefined);
  if (stray.length > 0) {
    throw badArgument(`emulate aloha: option(s) ${stray.map((k) => `--${k}`).join(', ')} apply to ur5 only`, {
      option: stray[0],
    });
  }
  // The arms start at ALOHA's home pose: the ViperX sleep pose (shoulder -2.05 rad) lies outside the servos'
  // Min/Max Position_Limit (shoulder 841 counts = -1.85 rad), and the driver refuses goals out there.
  const aloha = await emulateAloha({
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    arm: { initialArm: ALOHA_DEFAULT_RESET_POSE },
  });
  console.log(`left ${aloha.left.devicePath}`);
  console.log(`right ${aloha.right.devicePath}`);
  console.log('ready (Ctrl-C to stop)');
  const signal = await waitForSignal();
  console.log(`${signal}: stopping the emulated arms`);
  await aloha.close();
  return 0;
}

async function emulateUr5Command(values: Values): Promise<number> {
  if (values.dir !== undefined)
    throw badArgument('emulate ur5: --dir applies to aloha only', { option: 'dir' });
  const series = values.series ?? 'e-series';
  if (series !== 'e-series' && series !== 'cb3') {
    throw badArgument(`emulate ur5: --series must be e-series or cb3, got '${series}'`, {
      option: 'series',
      value: series,
    });
  }
  const startMode = values['start-mode'] ?? 'power_off';
  if (startMode !== 'power_off' && startMode !== 'running') {
    throw badArgument(`emulate ur5: --start-mode must be power_off or running, got '${startMode}'`, {
      option: 'start-mode',
      value: startMode,
    });
  }
  const ports: Record<string, number> = {};
  if (values['script-ports'] !== undefined) {
    const parts = values['script-ports'].split(',');
    if (parts.length !== 3) {
      throw badArgument(
        `emulate ur5: --script-ports takes primary,secondary,realtime, got '${values['script-ports']}'`,
        {
          option: 'script-ports',
          value: values['script-ports'],
        },
      );
    }
    ports.primary = portOption('script-ports', parts[0] as string);
    ports.secondary = portOption('script-ports', parts[1] as string);
    ports.realtime = portOption('script-ports', parts[2] as string);
  }
  for (const name of ['rtde', 'dashboard', 'primary', 'secondary', 'realtime'] as const) {
    const v = values[`${name}-port`];
    if (v !== undefined) ports[name] = portOption(`${name}-port`, v);
  }
  let unlockDelayMs = 5000;
  if (values['unlock-delay-ms'] !== undefined) {
    unlockDelayMs = Number(values['unlock-delay-ms']);
    if (!/^\d+$/.test(values['unlock-delay-ms'].trim())) {
      throw badArgument(`emulate ur5: --unlock-delay-ms must be a whole number of ms`, {
        option: 'unlock-delay-ms',
        value: values['unlock-delay-ms'],
      });
    }
  }
  // Loaded on demand: `emulate aloha` never loads the UR emulator and vice versa.
  const { UrControllerEmulator } = await import('../robots/ur/emulator/emulator.js');
  const emu = await UrControllerEmulator.start({
    ...(values.host === undefined ? {} : { host: values.host }),
    ports,
    series,
    startMode,
    unlockDelayMs,
    remoteControl: values.local !== true,
    ...(values.verbose === true ? { trace: (line: string) => console.log(`[ur5] ${line}`) } : {}),
  });
  const p = emu.ports;
  console.log(
    `ready ${emu.host} rtde=${p.rtde} dashboard=${p.dashboard} primary=${p.primary} secondary=${p.secondary} realtime=${p.realtime} series=${series} start-mode=${startMode} (Ctrl-C to stop)`,
  );
  const signal = await waitForSignal();
  console.log(`${signal}: stopping the emulated UR controller`);
  await emu.close();
  return 0;
}

export const emulateCommand: CliCommand = {
  summary:
    'serve emulated robots: ALOHA arms on virtual serial ports (emulate aloha), a UR controller (emulate ur5)',
  async run(argv) {
    let values: Values;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS }));
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
    }
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const robot = positionals.join(' ');
    if (positionals.length === 1 && robot === 'aloha') return emulateAlohaCommand(values);
    if (positionals.length === 1 && robot === 'ur5') return emulateUr5Command(values);
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `emulate: expected the robot 'aloha' or 'ur5', got '${robot}'\n\n${HELP}`,
      {
        option: 'robot',
        value: robot,
        known: ['aloha', 'ur5'],
      },
    );
  },
};
