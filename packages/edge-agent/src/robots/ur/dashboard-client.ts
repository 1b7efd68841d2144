/**
 * A client of the UR dashboard server (TCP 29999, CB3 and e-Series PolyScope): a banner line on connect, then one
 * reply line per `\n`-terminated command. Commands go one at a time (a queue); each typed method checks the reply
 * PolyScope gives on success and throws DASHBOARD_ERROR (context: command, reply) with the reply text otherwise.
 *
 * A command without a reply within `timeoutMs` fails with DASHBOARD_ERROR naming it, and the link is closed: a
 * late reply would otherwise be taken for the next command's. A closed link fails every pending and later command
 * at once. {@link bringUp} powers the arm on and releases the brakes, step by step.
 */
import { connect, type Socket } from 'node:net';
import { OpenpiEdgeError } from '@openpi-edge/client';

export const DASHBOARD_PORT = 29999;

export interface DashboardConnectOptions {
  readonly host: string;
  /** Default 29999. */
  readonly port?: number;
  /** Connect + banner, and each command's reply (ms). Default 2000. */
  readonly timeoutMs?: number;
}

export interface ProgramState {
  /** STOPPED, PLAYING or PAUSED. */
  readonly state: string;
  /** The loaded program (PolyScope's text after the state; `<unnamed>` when none). */
  readonly program: string;
}

function dashboardError(message: string, context: Record<string, unknown>, cause?: unknown): OpenpiEdgeError {
  return new OpenpiEdgeError(
    'DASHBOARD_ERROR',
    message,
    context,
    cause === undefined ? undefined : { cause },
  );
}

export class DashboardClient {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** The banner line the server greeted with. */
  readonly banner: string;
  readonly #socket: Socket;
  #buffer = '';
  /** Complete lines not yet taken by a command (normally none). */
  readonly #lines: string[] = [];
  #waiter: ((line: string | null) => void) | undefined;
  #closed = false;
  #closeReason = 'closed';
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(o: { host: string; port: number; timeoutMs: number; socket: Socket; banner: string }) {
    this.host = o.host;
    this.port = o.port;
    this.timeoutMs = o.timeoutMs;
    this.#socket = o.socket;
    this.banner = o.banner;
  }

  /** Connects and reads the banner. DASHBOARD_ERROR (context: host, port) when either fails in time. */
  static async connect(o: DashboardConnectOptions): Promise<DashboardClient> {
    const port = o.port ?? DASHBOARD_PORT;
    const timeoutMs = o.timeoutMs ?? 2000;
    const where = `${o.host}:${port}`;
    const socket = connect({ host: o.host, port });
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let pre = '';
    const banner = await new Promise<string>((resolve, reject) => {
      const done = (e: Error | null, line?: string): void => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (e !== null) {
          socket.destroy();
          reject(e);
        } else resolve(line as string);
      };
      const timer = setTimeout(
        () =>
          done(
            dashboardError(`UR dashboard ${where}: no banner within ${timeoutMs} ms`, {
              command: null,
              reply: pre.length > 0 ? pre : null,
              host: o.host,
              port,
            }),
          ),
        timeoutMs,
      );
      const onData = (chunk: string): void => {
        pre += chunk;
        const nl = pre.indexOf('\n');
        if (nl >= 0) {
          const line = pre.slice(0, nl).replace(/\r$/, '');
          pre = pre.slice(nl + 1);
          done(null, line);
        }
      };
      const onError = (e: Error): void =>
        done(
          dashboardError(
            `UR dashboard ${where}: cannot connect: ${e.message}`,
            {
              command: null,
              reply: null,
              host: o.host,
              port,
            },
            e,
          ),
        );
      const onClose = (): void =>
        done(
          dashboardError(`UR dashboard ${where}: closed before its banner`, {
            command: null,
            reply: null,
            host: o.host,
            port,
          }),
        );
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
    });
    const client = new DashboardClient({ host: o.host, port, timeoutMs, socket, banner });
    client.#attach(pre);
    return client;
  }

  #attach(rest: string): void {
    this.#socket.on('data', (chunk: string) => this.#onData(chunk));
    this.#socket.on('error', (e) => {
      this.#closeReason = `link error: ${e.message}`;
    });
    this.#socket.on('close', () => {
      this.#closed = true;
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.(null);
    });
    if (rest.length > 0) this.#onData(rest);
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(nl + 1);
      const w = this.#waiter;
      if (w !== undefined) {
        this.#waiter = undefined;
        w(line);
      } else {
        this.#lines.push(line);
      }
      nl = this.#buffer.indexOf('\n');
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one command line and resolves with the reply line (queued behind commands in flight). */
  command(text: string): Promise<string> {
    if (/[\r\n]/.test(text)) {
      return Promise.reject(
        new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `UR dashboard command must be one line, got ${JSON.stringify(text)}`,
          {
            command: text,
          },
        ),
      );
    }
    const run = this.#queue.then(
      () => this.#send(text),
      () => this.#send(text),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #send(text: string): Promise<string> {
    const where = `${this.host}:${this.port}`;
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(
        dashboardError(`UR dashboard ${where}: '${text}' not sent: the link is ${this.#closeReason}`, {
          command: text,
          reply: null,
        }),
      );
    }
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        this.#closeReason = `closed after '${text}' got no reply within ${this.timeoutMs} ms`;
        this.#socket.destroy();
        reject(
          dashboardError(`UR dashboard ${where}: no reply to '${text}' within ${this.timeoutMs} ms`, {
            command: text,
            reply: null,
            timeoutMs: this.timeoutMs,
          }),
        );
      }, this.timeoutMs);
      this.#waiter = (line) => {
        clearTimeout(timer);
        if (line === null) {
          reject(
            dashboardError(`UR dashboard ${where}: link closed while waiting for the reply to '${text}'`, {
              command: text,
              reply: null,
            }),
          );
        } else resolve(line);
      };
      // Lines the server sent unasked are not this command's reply.
      this.#lines.length = 0;
      this.#socket.write(`${text}\n`);
    });
  }

  /** Sends `text` and checks the reply starts with `expected` (case-insensitive). */
  async #expect(text: string, expected: string): Promise<string> {
    const reply = await this.command(text);
    if (!reply.toLowerCase().startsWith(expected.toLowerCase())) {
      throw dashboardError(`UR dashboard '${text}' failed: ${reply}`, { command: text, reply, expected });
    }
    return reply;
  }

  /** Sends `text` and returns the first group of `pattern` in the reply. */
  async #query(text: string, pattern: RegExp, what: string): Promise<string> {
    const reply = await this.command(text);
    const m = pattern.exec(reply.trim());
    if (m === null) {
      throw dashboardError(`UR dashboard '${text}': expected ${what}, got: ${reply}`, {
        command: text,
        reply,
      });
    }
    return m[1] ?? m[0];
  }

  async powerOn(): Promise<void> {
    await this.#expect('power on', 'Powering on');
  }
  async powerOff(): Promise<void> {
    await this.#expect('power off', 'Powering off');
  }
  async brakeRelease(): Promise<void> {
    await this.#expect('brake release', 'Brake releasing');
  }
  async play(): Promise<void> {
    await this.#expect('play', 'Starting program');
  }
  async stop(): Promise<void> {
    await this.#expect('stop', 'Stopped');
  }
  async pause(): Promise<void> {
    await this.#expect('pause', 'Pausing program');
  }
  /** Loads a program (`.urp` path on the controller). */
  async load(file: string): Promise<void> {
    await this.#expect(`load ${file}`, 'Loading program');
  }
  /** Fails (DASHBOARD_ERROR with PolyScope's reply) within 5 s of the stop on a real arm. */
  async unlockProtectiveStop(): Promise<void> {
    await this.#expect('unlock protective stop', 'Protective stop releasing');
  }
  async closePopup(): Promise<void> {
    await this.#expect('close popup', 'closing popup');
  }
  async closeSafetyPopup(): Promise<void> {
    await this.#expect('close safety popup', 'closing safety popup');
  }
  async restartSafety(): Promise<void> {
    await this.#expect('restart safety', 'Restarting safety');
  }
  /** The robot mode name, e.g. `RUNNING`, `POWER_OFF` (ROBOT_MODE keys in rtde/types.ts). */
  robotMode(): Promise<string> {
    return this.#query('robotmode', /^Robotmode:\s*(\S+)/i, 'Robotmode: <mode>');
  }
  /** The safety mode name, e.g. `NORMAL`, `PROTECTIVE_STOP` (SAFETY_MODE keys). */
  safetyMode(): Promise<string> {
    return this.#query('safetymode', /^Safetymode:\s*(\S+)/i, 'Safetymode: <mode>');
  }
  /** The safety status name (e-Series; like safetyMode with finer stop kinds). */
  safetyStatus(): Promise<string> {
    return this.#query('safetystatus', /^Safetystatus:\s*(\S+)/i, 'Safetystatus: <status>');
  }
  async programState(): Promise<ProgramState> {
    const reply = await this.command('programState');
    const m = /^(STOPPED|PLAYING|PAUSED)\s*(.*)$/i.exec(reply.trim());
    if (m === null) {
      throw dashboardError(
        `UR dashboard 'programState': expected STOPPED|PLAYING|PAUSED <program>, got: ${reply}`,
        {
          command: 'programState',
          reply,
        },
      );
    }
    return { state: (m[1] as string).toUpperCase(), program: m[2] ?? '' };
  }
  async running(): Promise<boolean> {
    const v = await this.#query(
      'running',
      /^Program running:\s*(true|false)$/i,
      'Program running: true|false',
    );
    return v.toLowerCase() === 'true';
  }
  /** The loaded program's path, or null when none is loaded. */
  async loadedProgram(): Promise<string | null> {
    const reply = await this.command('get loaded program');
    const m = /^Loaded program:\s*(.*)$/i.exec(reply.trim());
    if (m !== null) return m[1] ?? '';
    if (/^No program loaded/i.test(reply.trim())) return null;
    throw dashboardError(`UR dashboard 'get loaded program': unexpected reply: ${reply}`, {
      command: 'get loaded program',
      reply,
    });
  }
  /** e-Series remote control. DASHBOARD_ERROR on CB3 (3.x has no such command). */
  async isInRemoteControl(): Promise<boolean> {
    const v = await this.#query('is in remote control', /^(true|false)$/i, 'true|false');
    return v.toLowerCase() === 'true';
  }
  /** E.g. `URSoftware 5.11.1.108 (Jan 01 2023)`. */
  polyscopeVersion(): Promise<string> {
    return this.#query('PolyscopeVersion', /^(.*\d+\.\d+\.\d+.*)$/, 'a software version');
  }
  /** The controller's serial number (digits). */
  serialNumber(): Promise<string> {
    return this.#query('get serial number', /^(\d+)$/, 'a serial number');
  }

  /** Sends `quit` (best effort) and closes the link. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        if (!this.#closed && !this.#socket.destroyed) {
          const quit = this.#send('quit').catch(() => undefined);
          await Promise.race([
            quit,
            new Promise((r) => setTimeout(r, Math.min(500, this.timeoutMs)).unref()),
          ]);
        }
        this.#closed = true;
        this.#closeReason = 'closed';
        if (!this.#socket.destroyed) {
          const gone = new Promise<void>((r) => this.#socket.once('close', () => r()));
          this.#socket.destroy();
          await gone;
        }
      })();
    }
    return this.#closing;
  }
}

export interface BringUpStep {
  readonly step: string;
  readonly detail: string;
}

export interface BringUpOptions {
  /** Whole bring-up (ms). Default 30000 (a real arm takes ~10–20 s from power off). */
  readonly timeoutMs?: number;
  /** Robot mode polling period (ms). Default 100. */
  readonly pollMs?: number;
  readonly onStep?: (step: BringUpStep) => void;
}

/**
 * Powers the arm on and releases the brakes: remote control check (skipped on CB3, which has none) → close popups
 * → safety mode NORMAL/REDUCED → `power on`, polling `robotmode` until IDLE → `brake release`, polling until
 * RUNNING. Steps already done are skipped (an arm already RUNNING only gets the checks). Each step is reported;
 * an error (DASHBOARD_ERROR) names the step and the last robot mode. Resolves with the final robot mode.
 */
export async function bringUp(dashboard: DashboardClient, options: BringUpOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  const report = (step: string, detail: string): void => options.onStep?.({ step, detail });
  let mode = 'UNKNOWN';
  const fail = (
    step: string,
    why: string,
    extra: Record<string, unknown> = {},
    cause?: unknown,
  ): OpenpiEdgeError =>
    dashboardError(
      `UR bring-up failed at '${step}': ${why} (robot mode ${mode})`,
      { command: null, reply: null, ...extra, step, robotMode: mode },
      cause,
    );
  const within = async <T>(step: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof OpenpiEdgeError && e.context.step !== undefined) throw e;
      throw fail(step, (e as Error).message, e instanceof OpenpiEdgeError ? { ...e.context } : {}, e);
    }
  };

  const remoteReply = await within('remote control', () => dashboard.command('is in remote control'));
  if (/^could not understand/i.test(remoteReply)) {
    report('remote control', 'not applicable (CB3)');
  } else if (/^true$/i.test(remoteReply.trim())) {
    report('remote control', 'yes');
  } else {
    throw fail(
      'remote control',
      `the controller is in local mode (reply '${remoteReply}'); switch it to Remote`,
      {
        command: 'is in remote control',
        reply: remoteReply,
      },
    );
  }
  await within('close popups', async () => {
    await dashboard.closePopup();
    await dashboard.closeSafetyPopup();
  });
  report('close popups', 'popup and safety popup closed');
  mode = await within('robot mode', () => dashboard.robotMode());
  report('robot mode', mode);
  if (mode === 'RUNNING') return mode;

  const safety = await within('safety mode', () => dashboard.safetyMode());
  report('safety mode', safety);
  if (safety !== 'NORMAL' && safety !== 'REDUCED') {
    throw fail('safety mode', `safety mode ${safety}: clear it before powering on`, {
      command: 'safetymode',
      reply: safety,
    });
  }

  const poll = async (step: string, until: readonly string[]): Promise<void> => {
    for (;;) {
      mode = await within(step, () => dashboard.robotMode());
      if (until.includes(mode)) return;
      if (Date.now() >= deadline) {
        throw fail(step, `robot mode not ${until.join(' or ')} within ${timeoutMs} ms`, { timeoutMs });
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };

  if (mode === 'BOOTING') await poll('booting', ['POWER_OFF', 'POWER_ON', 'IDLE', 'RUNNING']);
  if (mode === 'POWER_OFF' || mode === 'POWER_ON') {
    if (mode === 'POWER_OFF') await within('power on', () => dashboard.powerOn());
    report('power on', 'Powering on');
    await poll('power on', ['IDLE', 'RUNNING']);
    report('power on', `robot mode ${mode}`);
  }
  if (mode === 'RUNNING') return mode;
  if (mode !== 'IDLE') throw fail('power on', `cannot bring the arm up from robot mode ${mode}`);
  await within('brake release', () => dashboard.brakeRelease());
  report('brake release', 'Brake releasing');
  await poll('brake release', ['RUNNING']);
  report('brake release', `robot mode ${mode}`);
  return mode;
}
