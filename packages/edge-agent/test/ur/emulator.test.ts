/**
 * The UR controller emulator against raw sockets: RTDE handshake, recipes (NOT_FOUND, IN_USE, separate id
 * counters), streaming (counted on controller timestamps, no wall-clock assertions), text messages, bad input,
 * openpi-edge's servo program (from the driver's own program text), safety stops, the worker-thread runner.
 * Every wait is state-based with a generous hang guard.
 */
import { connect, createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { UrControllerEmulator, type UrEmulatorOptions } from '../../src/robots/ur/emulator/emulator.js';
import { startUrEmulatorThread } from '../../src/robots/ur/emulator/emulator-thread.js';
import {
  decodeData,
  decodeSetupReply,
  decodeTextMessage,
  decodeVersion,
  encodeData,
  encodePackage,
  encodeSetupOutputs,
  RTDE_PACKAGE,
  RtdeFramer,
  type RtdePackage,
  type TextMessage,
} from '../../src/robots/ur/rtde/codec.js';
import { RTDE_OUTPUT_TYPES, type RtdeType, type RtdeValue } from '../../src/robots/ur/rtde/types.js';
import { DEFAULT_SERVO_PARAMS, servoProgram } from '../../src/robots/ur/servo-program.js';

const HANG_MS = 10_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const EPHEMERAL = { rtde: 0, dashboard: 0, primary: 0, secondary: 0, realtime: 0 };

async function startEmulator(options: UrEmulatorOptions = {}): Promise<UrControllerEmulator> {
  const emu = await UrControllerEmulator.start({
    ports: EPHEMERAL,
    unlockDelayMs: 0,
    modeTransitionMs: 20,
    ...options,
  });
  cleanups.push(() => emu.close());
  return emu;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`hang guard: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw RTDE peer: every package received is kept; `take` hands out the first unconsumed match. */
class RawRtde {
  readonly socket: Socket;
  readonly framer = new RtdeFramer();
  readonly received: { p: RtdePackage; used: boolean }[] = [];
  closed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      for (const p of this.framer.push(c)) this.received.push({ p, used: false });
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawRtde> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawRtde(socket);
    cleanups.push(() => {
      socket.destroy();
    });
    return c;
  }

  send(type: number, payload: Uint8Array = new Uint8Array(0)): void {
    this.socket.write(encodePackage(type, payload));
  }

  async take(what: string, match: (p: RtdePackage) => boolean): Promise<RtdePackage> {
    const deadline = Date.now() + HANG_MS;
    for (;;) {
      const hit = this.received.find((r) => !r.used && match(r.p));
      if (hit !== undefined) {
        hit.used = true;
        return hit.p;
      }
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`hang guard: ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  async request(type: number, payload?: Uint8Array): Promise<Buffer> {
    this.send(type, payload);
    return (await this.take(`reply ${String.fromCharCode(type)}`, (p) => p.type === type)).payload;
  }

  async text(match: (m: TextMessage) => boolean = () => true): Promise<TextMessage> {
    const p = await this.take(
      'text message',
      (p) => p.type === RTDE_PACKAGE.TEXT_MESSAGE && match(decodeTextMessage(p.payload)),
    );
    return decodeTextMessage(p.payload);
  }

  texts(): TextMessage[] {
    return this.received
      .filter((r) => r.p.type === RTDE_PACKAGE.TEXT_MESSAGE)
      .map((r) => decodeTextMessage(r.p.payload));
  }

  async handshake(): Promise<void> {
    const v = await this.request(RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION, Buffer.from([0, 2]));
    expect(v[0]).toBe(1);
  }

  async setupOutputs(hz: number, names: readonly string[]): Promise<{ id: number; types: string[] }> {
    const r = decodeSetupReply(await this.request(RTDE_PACKAGE.SETUP_OUTPUTS, encodeSetupOutputs(hz, names)));
    return { id: r.recipeId, types: r.types };
  }

  async setupInputs(names: readonly string[]): Promise<{ id: number; types: string[] }> {
    const r = decodeSetupReply(
      await this.request(RTDE_PACKAGE.SETUP_INPUTS, Buffer.from(names.join(','), 'ascii')),
    );
    return { id: r.recipeId, types: r.types };
  }

  async start(): Promise<void> {
    expect((await this.request(RTDE_PACKAGE.START))[0]).toBe(1);
  }

  /** The next `n` data packages of output recipe `id`, decoded. */
  async data(id: number, types: readonly RtdeType[], n = 1): Promise<RtdeValue[][]> {
    const out: RtdeValue[][] = [];
    for (let i = 0; i < n; i++) {
      const p = await this.take(
        `data of recipe ${id}`,
        (p) => p.type === RTDE_PACKAGE.DATA_PACKAGE && p.payload[0] === id,
      );
      out.push(decodeData(p.payload, types));
    }
    return out;
  }

  /** Skips the data received so far (the next `data` is fresh). */
  drain(): void {
    for (const r of this.received) if (r.p.type === RTDE_PACKAGE.DATA_PACKAGE) r.used = true;
  }

  write(id: number, types: readonly RtdeType[], values: readonly RtdeValue[]): void {
    this.send(RTDE_PACKAGE.DATA_PACKAGE, encodeData(id, types, values));
  }
}

function typesOf(names: readonly string[]): RtdeType[] {
  return names.map((n) => RTDE_OUTPUT_TYPES[n] as RtdeType);
}

async function sendScript(port: number, text: string): Promise<void> {
  const s = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  await new Promise<void>((resolve) => s.end(text, () => resolve()));
  cleanups.push(() => {
    s.destroy();
  });
}

describe('UR emulator: RTDE handshake and recipes', () => {
  it('V, v (e-Series 5.11.1.108), O with a trailing comma, S, then U streamed at 500 Hz in controller time', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    expect(decodeVersion(await c.request(RTDE_PACKAGE.GET_URCONTROL_VERSION))).toEqual({
      major: 5,
      minor: 11,
      bugfix: 1,
      build: 108,
    });
    // ur_rtde's list ends with a comma: the empty name is dropped.
    const names = [
      'timestamp',
      'actual_q',
      'robot_mode',
      'safety_mode',
      'runtime_state',
      'robot_status_bits',
      '',
    ];
    const recipe = await c.setupOutputs(500, names);
    expect(recipe).toEqual({ id: 1, types: ['DOUBLE', 'VECTOR6D', 'INT32', 'INT32', 'UINT32', 'UINT32'] });
    await c.start();
    const rows = await c.data(1, recipe.types as RtdeType[], 50);
    const ts = rows.map((r) => r[0] as number);
    for (let i = 1; i < ts.length; i++)
      expect((ts[i] as number) - (ts[i - 1] as number)).toBeCloseTo(0.002, 9);
    expect(rows[0]?.[1]).toEqual([0, -1.57, 1.57, -1.57, -1.57, 0]);
    expect(rows[0]?.slice(2)).toEqual([3, 1, 1, 0]); // POWER_OFF, NORMAL, STOPPED, no bits
    // P pauses the stream; S resumes it
    expect((await c.request(RTDE_PACKAGE.PAUSE))[0]).toBe(1);
  });

  it('decimates to the requested frequency (100 Hz: every 5th cycle) and counts output packages', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    const r = await c.setupOutputs(100, ['timestamp']);
    await c.start();
    const ts = (await c.data(r.id, ['DOUBLE'], 30)).map((v) => v[0] as number);
    for (let i = 1; i < ts.length; i++)
      expect((ts[i] as number) - (ts[i - 1] as number)).toBeCloseTo(0.01, 9);
    expect(emu.snapshot().outputPackets).toBeGreaterThanOrEqual(30);
  });

  it('CB3: version 3.15.7.106, 125 Hz cycle; a 500 Hz request is served at 125 Hz with a warning', async () => {
    const emu = await startEmulator({ series: 'cb3' });
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    expect(decodeVersion(await c.request(RTDE_PACKAGE.GET_URCONTROL_VERSION)).major).toBe(3);
    const r = await c.setupOutputs(500, ['timestamp']);
    expect(r.id).toBe(1);
    expect((await c.text((m) => m.level === 'warning')).message).toMatch(/125 Hz/);
    await c.start();
    const ts = (await c.data(1, ['DOUBLE'], 10)).map((v) => v[0] as number);
    for (let i = 1; i < ts.length; i++)
      expect((ts[i] as number) - (ts[i - 1] as number)).toBeCloseTo(0.008, 9);
  });

  it('NOT_FOUND names the variable (reply id 0 + an error text); input and output ids count separately', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    expect(await c.setupOutputs(125, ['timestamp', 'no_such_output'])).toEqual({
      id: 0,
      types: ['DOUBLE', 'NOT_FOUND'],
    });
    expect((await c.text((m) => m.level === 'error')).message).toContain('no_such_output');
    expect(await c.setupInputs(['input_int_register_30', 'bogus_input'])).toEqual({
      id: 0,
      types: ['INT32', 'NOT_FOUND'],
    });
    expect((await c.text((m) => m.message.includes('bogus_input'))).level).toBe('error');
    // a refused recipe takes no id: the next ones are 1 (outputs) and 1, 2 (inputs)
    expect((await c.setupOutputs(125, ['timestamp'])).id).toBe(1);
    expect((await c.setupInputs(['input_int_register_30'])).id).toBe(1);
    expect((await c.setupInputs(['input_int_register_30', 'input_double_register_30'])).id).toBe(2);
    expect((await c.setupOutputs(125, ['actual_q'])).id).toBe(2);
  });

  it('IN_USE for an input another connection owns, free again once the owner disconnects', async () => {
    const emu = await startEmulator();
    const a = await RawRtde.connect(emu.ports.rtde);
    const b = await RawRtde.connect(emu.ports.rtde);
    await a.handshake();
    await b.handshake();
    expect(await a.setupInputs(['input_int_register_31'])).toEqual({ id: 1, types: ['INT32'] });
    expect(await b.setupInputs(['input_double_register_31', 'input_int_register_31'])).toEqual({
      id: 0,
      types: ['DOUBLE', 'IN_USE'],
    });
    expect((await b.text()).message).toMatch(/input_int_register_31: IN_USE/);
    a.socket.destroy();
    await until('owner gone', () => (emu.snapshot().rtdeClients === 1 ? true : undefined));
    expect(await b.setupInputs(['input_int_register_31'])).toEqual({ id: 1, types: ['INT32'] });
  });

  it('client U writes registers (visible in an output recipe); U before S is refused with a text message', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    const out = ['input_int_register_32', 'input_double_register_32'];
    const o = await c.setupOutputs(500, out);
    const i = await c.setupInputs(out);
    c.write(i.id, ['INT32', 'DOUBLE'], [99, 9.5]);
    expect((await c.text()).message).toMatch(/before start/);
    await c.start();
    expect((await c.data(o.id, ['INT32', 'DOUBLE']))[0]).toEqual([0, 0]);
    c.write(i.id, ['INT32', 'DOUBLE'], [7, -2.25]);
    await until('echo', async () => {
      c.drain();
      const [row] = await c.data(o.id, ['INT32', 'DOUBLE']);
      return row?.[0] === 7 ? row : undefined;
    });
    expect(emu.snapshot().inputPackets).toBe(1);
    // an unknown recipe id and a wrong length are refused, each once
    c.write(9, ['INT32'], [1]);
    expect((await c.text()).message).toMatch(/no input recipe 9/);
    c.send(RTDE_PACKAGE.DATA_PACKAGE, Buffer.from([i.id, 0, 0]));
    expect((await c.text()).message).toMatch(/3 bytes, its recipe needs 13/);
  });
});

describe('UR emulator: text messages, safety, bad input', () => {
  it('a protective stop: error text, safety mode 3 and its bits in the stream; e-stop powers off', async () => {
    const emu = await startEmulator({ startMode: 'running' });
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
    const names = ['robot_mode', 'safety_mode', 'safety_status_bits', 'robot_status_bits'];
    const o = await c.setupOutputs(500, names);
    await c.start();
    expect((await c.data(o.id, typesOf(names)))[0]).toEqual([7, 1, 1, 1]);
    emu.injectProtectiveStop('collision on joint 3');
    const m = await c.text();
    expect(m).toMatchObject({ level: 'error', source: 'Safety' });
    expect(m.message).toContain('Protective stop: collision on joint 3');
    c.drain();
    const [ps] = await c.data(o.id, typesOf(names));
    expect(ps?.[1]).toBe(3);
    expect(((ps?.[2] as number) >> 2) & 1).toBe(1);
    emu.injectEmergencyStop();
    c.drain();
    const [es] = await c.data(o.id, typesOf(names));
    expect(es?.slice(0, 2)).toEqual([3, 7]); // POWER_OFF, ROBOT_EMERGENCY_STOP
    expect(((es?.[2] as number) >> 7) & 1).toBe(1);
    emu.releaseEmergencyStop();
    expect(emu.snapshot()).toMatchObject({ safetyMode: 1, robotMode: 3 });
  });

  it('a corrupt stream (size < 3) gets an error text and is dropped; other clients carry on', async () => {
    const emu = await startEmulator();
    const good = await RawRtde.connect(emu.ports.rtde);
    await good.handshake();
    const o = await good.setupOutputs(500, ['timestamp']);
    await good.start();
    const bad = await RawRtde.connect(emu.ports.rtde);
    bad.socket.write(Buffer.from([0, 1, 0x55, 0, 0]));
    expect((await bad.text()).message).toMatch(/corrupt/);
    await until('bad client dropped', () => (bad.closed ? true : undefined));
    good.drain();
    expect((await good.data(o.id, ['DOUBLE'], 3)).length).toBe(3);
  });

  it('unknown types, short setups, fuzz, vanishing clients: error texts, never a crash', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    c.send(88); // 'X'
    expect((await c.text()).message).toMatch(/unknown RTDE package type X/);
    c.send(RTDE_PACKAGE.SETUP_OUTPUTS, Buffer.from([1, 2]));
    expect((await c.text()).message).toMatch(/setup-outputs request of 2 bytes/);
    c.send(RTDE_PACKAGE.START);
    expect((await c.text()).message).toMatch(/no recipe/);
    // deterministic fuzz: well-framed packages of random type and payload
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const fuzz = await RawRtde.connect(emu.ports.rtde);
    for (let i = 0; i < 300; i++) {
      const payload = Buffer.alloc(rnd(64));
      for (let j = 0; j < payload.length; j++) payload[j] = rnd(256);
      const types = [73, 77, 79, 80, 83, 85, 86, 118, rnd(256)];
      fuzz.send(types[rnd(types.length)] as number, payload);
    }
    // clients that vanish mid-stream
    for (let k = 0; k < 5; k++) {
      const v = await RawRtde.connect(emu.ports.rtde);
      await v.handshake();
      await v.setupOutputs(500, ['timestamp', 'actual_q']);
      await v.start();
      v.socket.destroy();
    }
    const fresh = await RawRtde.connect(emu.ports.rtde);
    await fresh.handshake();
    const o = await fresh.setupOutputs(500, ['timestamp']);
    await fresh.start();
    expect((await fresh.data(o.id, ['DOUBLE'], 5)).length).toBe(5);
    expect(emu.snapshot().cycles).toBeGreaterThan(0);
  });

  it('dropRtdeConnections resets every RTDE socket; the port keeps listening', async () => {
    const emu = await startEmulator();
    const a = await RawRtde.connect(emu.ports.rtde);
    const b = await RawRtde.connect(emu.ports.rtde);
    await a.handshake();
    await b.handshake();
    emu.dropRtdeConnections();
    await until('both closed', () => (a.closed && b.closed ? true : undefined));
    const c = await RawRtde.connect(emu.ports.rtde);
    await c.handshake();
  });

  it('close() is idempotent and frees the ports; a non-loopback host is refused', async () => {
    const emu = await UrControllerEmulator.start({ ports: EPHEMERAL });
    const port = emu.ports.dashboard;
    const open = await RawRtde.connect(emu.ports.rtde);
    await Promise.all([emu.close(), emu.close()]);
    await until('client closed', () => (open.closed ? true : undefined));
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((r) => probe.close(() => r()));
    await expect(UrControllerEmulator.start({ host: '0.0.0.0', ports: EPHEMERAL })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { option: 'host' },
    });
  });

  it('a taken port is a BAD_ARGUMENT naming it, and nothing stays open', async () => {
    const first = await startEmulator();
    await expect(
      UrControllerEmulator.start({ ports: { ...EPHEMERAL, dashboard: first.ports.dashboard } }),
    ).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { option: 'ports.dashboard', errno: 'EADDRINUSE' },
    });
  });
});

interface ServoSample {
  q: number[];
  servoState: number;
  runtime: number;
  bits: number;
}

interface ServoPeer {
  setMode(m: number): void;
  setTarget(q: number[]): void;
  keepAlive(on: boolean): void;
  state(): Promise<ServoSample>;
  waitState(what: string, f: (s: ServoSample) => boolean): Promise<ServoSample>;
}

/** An RTDE peer for the servo program: inputs keepalive/mode/targets, outputs q and the state register. */
async function servoPeer(emu: { ports: { rtde: number } }): Promise<ServoPeer> {
  const p = DEFAULT_SERVO_PARAMS;
  const c = await RawRtde.connect(emu.ports.rtde);
  await c.handshake();
  const outNames = [
    'timestamp',
    'actual_q',
    'target_q',
    `output_int_register_${p.stateRegister}`,
    'runtime_state',
    'robot_status_bits',
  ];
  const outTypes = typesOf(outNames);
  const o = await c.setupOutputs(500, outNames);
  const inNames = [
    `input_int_register_${p.keepaliveRegister}`,
    `input_int_register_${p.modeRegister}`,
    ...[0, 1, 2, 3, 4, 5].map((i) => `input_double_register_${p.targetRegister + i}`),
  ];
  const inTypes: RtdeType[] = ['INT32', 'INT32', 'DOUBLE', 'DOUBLE', 'DOUBLE', 'DOUBLE', 'DOUBLE', 'DOUBLE'];
  const i = await c.setupInputs(inNames);
  expect(i.types).toEqual(inTypes);
  await c.start();
  let keepalive = 0;
  let mode = 0;
  let target: number[] = [0, -1.57, 1.57, -1.57, -1.57, 0];
  let timer: NodeJS.Timeout | undefined;
  const push = (): void => c.write(i.id, inTypes, [keepalive, mode, ...target]);
  const peer: ServoPeer = {
    setMode(m: number): void {
      mode = m;
      push();
    },
    setTarget(q: number[]): void {
      target = q;
      push();
    },
    /** Bumps the keepalive every 4 ms (the program's watchdog here is 1 s: a generous margin on a busy machine). */
    keepAlive(on: boolean): void {
      if (timer !== undefined) clearInterval(timer);
      timer = on
        ? setInterval(() => {
            keepalive++;
            push();
          }, 4)
        : undefined;
    },
    async state(): Promise<ServoSample> {
      c.drain();
      const [row] = await c.data(o.id, outTypes);
      return {
        q: row?.[1] as number[],
        servoState: row?.[3] as number,
        runtime: row?.[4] as number,
        bits: row?.[5] as number,
      };
    },
    async waitState(what: string, f: (s: ServoSample) => boolean): Promise<ServoSample> {
      return until(what, async () => {
        const s = await peer.state();
        return f(s) ? s : undefined;
      });
    },
  };
  cleanups.push(() => peer.keepAlive(false));
  return peer;
}

const PROGRAM = servoProgram({ ...DEFAULT_SERVO_PARAMS, watchdog: 1 });

describe("UR emulator: openpi-edge's servo program (from its header)", () => {
  it('servo, hold, watchdog end, end on request; targets reported; script ports all accept it', async () => {
    const emu = await startEmulator({ startMode: 'running' });
    const peer = await servoPeer(emu);
    const targets: number[][] = [];
    emu.onTarget((q) => targets.push([...q]));
    peer.setMode(1);
    peer.keepAlive(true);
    await sendScript(emu.ports.secondary, PROGRAM);
    const s1 = await peer.waitState('servoing', (s) => s.servoState === 1);
    expect(s1.runtime).toBe(2);
    expect(s1.bits & 2).toBe(2);
    expect(emu.snapshot().program).toBe('openpi_edge_servo');
    const goal = [0.3, -1.4, 1.5, -1.6, -1.5, 0.2];
    peer.setTarget(goal);
    const at = await peer.waitState('arrived', (s) =>
      s.q.every((v, j) => Math.abs(v - (goal[j] as number)) < 1e-3),
    );
    expect(at.servoState).toBe(1);
    expect(targets.some((q) => q.every((v, j) => v === goal[j]))).toBe(true);
    // hold: keeps running, state 2
    peer.setMode(0);
    const held = await peer.waitState('holding', (s) => s.servoState === 2);
    expect(held.runtime).toBe(2);
    // keepalive stops → watchdog: state 3, program ended
    peer.keepAlive(false);
    const dead = await peer.waitState('watchdog', (s) => s.servoState === 3);
    expect(dead.runtime).toBe(1);
    expect(dead.bits & 2).toBe(0);
    expect(emu.snapshot().program).toBeNull();
    // again on the real-time port; mode 2 ends it with state 4
    peer.keepAlive(true);
    peer.setMode(1);
    await sendScript(emu.ports.realtime, PROGRAM);
    await peer.waitState('servoing again', (s) => s.servoState === 1 && s.runtime === 2);
    peer.setMode(2);
    const ended = await peer.waitState('ended', (s) => s.servoState === 4);
    expect(ended.runtime).toBe(1);
    expect(emu.snapshot()).toMatchObject({ program: null, servoState: 4, programsStarted: 2 });
  });

  it('a protective stop ends the program (state register left as is); refused while not RUNNING', async () => {
    const emu = await startEmulator({ startMode: 'running' });
    const peer = await servoPeer(emu);
    const watcher = await RawRtde.connect(emu.ports.rtde);
    peer.setMode(1);
    peer.keepAlive(true);
    await sendScript(emu.ports.primary, PROGRAM);
    await peer.waitState('servoing', (s) => s.servoState === 1);
    emu.injectProtectiveStop();
    const s = await peer.waitState('stopped', (st) => st.runtime === 1);
    expect(s.servoState).toBe(1);
    expect(emu.snapshot()).toMatchObject({ safetyMode: 3, program: null });
    // while protectively stopped a new program is refused with an error text
    await sendScript(emu.ports.secondary, PROGRAM);
    const refusal = await watcher.text((m) => m.message.includes('could not start'));
    expect(refusal.level).toBe('error');
    expect(refusal.message).toMatch(/PROTECTIVE_STOP/);
    expect(emu.snapshot().programsRefused).toBe(1);
  });

  it('powered off: a program is refused (error text), nothing moves', async () => {
    const emu = await startEmulator();
    const c = await RawRtde.connect(emu.ports.rtde);
    await sendScript(emu.ports.secondary, PROGRAM);
    expect((await c.text()).message).toMatch(/could not start: robot mode POWER_OFF/);
    expect(emu.snapshot()).toMatchObject({ program: null, runtimeState: 1, programsRefused: 1 });
  });

  it('an unknown def program plays without motion (warning) until stopped; loose lines are ignored', async () => {
    const emu = await startEmulator({ startMode: 'running' });
    const c = await RawRtde.connect(emu.ports.rtde);
    await sendScript(emu.ports.secondary, 'textmsg("hello")\ndef my_prog():\n  movej([0,0,0,0,0,0])\nend\n');
    expect((await c.text((m) => m.message.includes('outside a def'))).level).toBe('warning');
    expect((await c.text((m) => m.message.includes('my_prog'))).message).toMatch(/not emulated/);
    expect(emu.snapshot()).toMatchObject({ program: 'my_prog', runtimeState: 2 });
    expect(emu.lastScript()).toContain('def my_prog():');
  });
});

describe('UR emulator on a worker thread', () => {
  it('same contract through messages: snapshot, targets in this thread’s timebase, faults, drop, close', async () => {
    const before = performance.now();
    const emu = await startUrEmulatorThread({ ports: EPHEMERAL, startMode: 'running', unlockDelayMs: 0 });
    cleanups.push(() => emu.close());
    expect((await emu.snapshot()).robotMode).toBe(7);
    const seen: { q: readonly number[]; at: number }[] = [];
    const off = emu.onTarget((q, at) => seen.push({ q, at }));
    const peer = await servoPeer(emu);
    peer.setMode(1);
    peer.keepAlive(true);
    await sendScript(emu.ports.secondary, PROGRAM);
    await peer.waitState('servoing', (s) => s.servoState === 1);
    peer.setTarget([0.1, -1.5, 1.5, -1.5, -1.5, 0.1]);
    await until('targets reported', () => (seen.length >= 2 ? true : undefined));
    off();
    for (const t of seen) {
      expect(t.at).toBeGreaterThanOrEqual(before);
      expect(t.at).toBeLessThanOrEqual(performance.now());
    }
    expect((await emu.lastScript())?.startsWith('# openpi-edge-servo ')).toBe(true);
    await emu.injectProtectiveStop('thread test');
    expect(await emu.snapshot()).toMatchObject({ safetyMode: 3, program: null });
    const raw = await RawRtde.connect(emu.ports.rtde);
    await raw.handshake();
    await emu.dropRtdeConnections();
    await until('dropped', () => (raw.closed ? true : undefined));
    await Promise.all([emu.close(), emu.close()]);
    await expect(emu.snapshot()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a start failure rejects with the emulator’s error', async () => {
    await expect(startUrEmulatorThread({ host: '192.0.2.1' })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { option: 'host' },
    });
  });
});
