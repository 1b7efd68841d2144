/**
 * `edge-agent <command> [options]`. Each command lives in its own module exporting {@link CliCommand}; add one by
 * adding a line to COMMANDS. Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
import { pathToFileURL } from 'node:url';
import { OpenpiEdgeError } from '@openpi-edge/client';

/** A subcommand: `run` parses its own argv (everything after the command name) and resolves with an exit code. */
export interface CliCommand {
  /** One line for `edge-agent --help`. */
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

/** Command name -> lazy module (so `serve` never loads hardware drivers and vice versa). */
export const COMMANDS: Record<string, () => Promise<CliCommand>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  start: async () => (await import('./start.js')).startCommand,
  emulate: async () => (await import('./emulate.js')).emulateCommand,
  'bench-client': async () => (await import('./bench-client.js')).benchClientCommand,
  replay: async () => (await import('./replay.js')).replayCommand,
};

export function usage(): string {
  return [
    'usage: edge-agent <command> [options]',
    '',
    'commands:',
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
    '',
    'Run `edge-agent <command> --help` for the command options.',
  ].join('\n');
}

/** Dispatches `argv` (without node and script). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    console.error(`edge-agent: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof OpenpiEdgeError) {
      console.error(`edge-agent ${name}: ${e.code}: ${e.message}`);
      return e.code === 'BAD_ARGUMENT' ? 2 : 1;
    }
    throw e;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
