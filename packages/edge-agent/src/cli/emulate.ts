/**
 * `edge-agent emulate aloha [--dir <folder>]`: two emulated ViperX 300 follower arms on virtual serial ports (socat
 * pty pairs). Prints one line per arm, `left /dev/...` / `right /dev/...`, then `ready` (scripts and tests wait for
 * it), and serves until SIGINT / SIGTERM. The arms start at ALOHA's home pose. Point `start --transport serial --port-left ... --port-right ...` at them.
 */
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { ALOHA_DEFAULT_RESET_POSE } from '../robots/aloha/constants.js';
import { emulateAloha } from '../robots/aloha/emulate.js';
import type { CliCommand } from './main.js';

const HELP = `usage: edge-agent emulate aloha [options]

Serves two emulated ViperX 300 follower arms (Dynamixel Protocol 2.0, 1 Mbps) on socat pseudo-terminals.

  --dir <folder>   where to create the device links follower_left / follower_right (default: a fresh temp folder)
  -h, --help

Then, in another shell:
  pnpm --filter edge-agent start --robot aloha --transport serial --port-left <left> --port-right <right>`;

export const emulateCommand: CliCommand = {
  summary: 'serve emulated robot arms on virtual serial ports (emulate aloha)',
  async run(argv) {
    let values: { dir?: string | undefined; help?: boolean | undefined };
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      }));
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
    }
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== 'aloha') {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `emulate: expected the robot 'aloha', got '${positionals.join(' ')}'\n\n${HELP}`,
        { option: 'robot', value: positionals.join(' '), known: ['aloha'] },
      );
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
    const signal = await new Promise<string>((resolve) => {
      const onInt = (): void => resolve('SIGINT');
      const onTerm = (): void => resolve('SIGTERM');
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onTerm);
    });
    console.log(`${signal}: stopping the emulated arms`);
    await aloha.close();
    return 0;
  },
};
