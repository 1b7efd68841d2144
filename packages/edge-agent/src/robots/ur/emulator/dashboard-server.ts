/**
 * The emulator's dashboard server (port 29999): a banner line on connect, then one reply line per `\n`-terminated
 * command (commands matched case-insensitively, as PolyScope does). Replies follow PolyScope 5.x / 3.x wording;
 * e-Series in local control refuses the commands that act on the robot with {@link LOCAL_MODE_REFUSAL}. CB3 has no
 * local / remote control: `is in remote control` is unknown there, as on a real 3.x controller.
 */
import type { Socket } from 'node:net';
import { enumName, ROBOT_MODE, RUNTIME_STATE, SAFETY_MODE } from '../rtde/types.js';
import { type ControllerModel, SERIES } from './controller.js';

export const DASHBOARD_BANNER = 'Connected: Universal Robots Dashboard Server';
export const LOCAL_MODE_REFUSAL = 'Command is not allowed due to safety reasons';
export const UNLOCK_TOO_EARLY =
  'Cannot unlock protective stop until 5s after occurrence. Always inspect cause of protective stop before unlocking';

/** Longest command line accepted; a client sending more without a newline is dropped. */
const MAX_LINE = 4096;

/** Commands e-Series refuses in local control. */
const NEEDS_REMOTE = new Set([
  'power on',
  'power off',
  'brake release',
  'play',
  'stop',
  'pause',
  'load',
  'unlock protective stop',
  'restart safety',
  'shutdown',
]);

export class DashboardServer {
  readonly #model: ControllerModel;
  /** Commands answered since start (all connections). */
  commands = 0;

  constructor(model: ControllerModel) {
    this.#model = model;
  }

  accept(socket: Socket): void {
    let buf = '';
    socket.setEncoding('utf8');
    socket.write(`${DASHBOARD_BANNER}\n`);
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line.trim().length > 0) {
          const { reply, close } = this.#answer(line.trim());
          this.commands++;
          this.#model.trace(`dashboard: ${line.trim()} -> ${reply}`);
          if (!socket.destroyed) socket.write(`${reply}\n`);
          if (close) {
            socket.end();
            return;
          }
        }
        nl = buf.indexOf('\n');
      }
      if (buf.length > MAX_LINE) socket.destroy();
    });
  }

  #answer(command: string): { reply: string; close?: boolean } {
    const m = this.#model;
    const lower = command.toLowerCase().replace(/\s+/g, ' ');
    const verb = lower.startsWith('load ') ? 'load' : lower.startsWith('popup ') ? 'popup' : lower;
    const eSeries = m.options.series === 'e-series';
    if (eSeries && !m.remoteControl && NEEDS_REMOTE.has(verb)) return { reply: LOCAL_MODE_REFUSAL };
    switch (verb) {
      case 'power on': {
        const why = m.powerOn();
        return { reply: why === null ? 'Powering on' : 'Failed to execute: power on' };
      }
      case 'power off':
        m.powerOff();
        return { reply: 'Powering off' };
      case 'brake release': {
        const why = m.brakeRelease();
        return { reply: why === null ? 'Brake releasing' : 'Failed to execute: brake release' };
      }
      case 'play':
        return { reply: m.play() ? 'Starting program' : 'Failed to execute: play' };
      case 'stop':
        m.stop();
        return { reply: 'Stopped' };
      case 'pause':
        return { reply: m.pause() ? 'Pausing program' : 'Failed to execute: pause' };
      case 'load': {
        const file = command.slice(5).trim();
        if (!file.toLowerCase().endsWith('.urp')) return { reply: `File not found: ${file}` };
        m.load(file);
        return { reply: `Loading program: ${file}` };
      }
      case 'popup':
        return { reply: 'showing popup' };
      case 'close popup':
        return { reply: 'closing popup' };
      case 'close safety popup':
        return { reply: 'closing safety popup' };
      case 'unlock protective stop':
        return { reply: m.unlockProtectiveStop() === 'ok' ? 'Protective stop releasing' : UNLOCK_TOO_EARLY };
      case 'restart safety':
        m.restartSafety();
        return { reply: 'Restarting safety' };
      case 'robotmode':
        return { reply: `Robotmode: ${enumName(ROBOT_MODE, m.robotMode)}` };
      case 'safetymode':
        return { reply: `Safetymode: ${enumName(SAFETY_MODE, m.safetyMode)}` };
      case 'safetystatus':
        return { reply: `Safetystatus: ${enumName(SAFETY_MODE, m.safetyMode)}` };
      case 'programstate': {
        const state =
          m.runtimeState === RUNTIME_STATE.PLAYING
            ? 'PLAYING'
            : m.runtimeState === RUNTIME_STATE.PAUSED
              ? 'PAUSED'
              : 'STOPPED';
        return { reply: `${state} ${m.program?.name ?? m.loadedProgram ?? '<unnamed>'}` };
      }
      case 'running':
        return { reply: `Program running: ${m.runtimeState === RUNTIME_STATE.PLAYING}` };
      case 'get loaded program':
        return {
          reply: m.loadedProgram === null ? 'No program loaded' : `Loaded program: ${m.loadedProgram}`,
        };
      case 'is in remote control':
        if (!eSeries) break;
        return { reply: String(m.remoteControl) };
      case 'polyscopeversion':
        return { reply: SERIES[m.options.series].polyscope };
      case 'get serial number':
        return { reply: m.options.serialNumber };
      case 'get robot model':
        return { reply: 'UR5' };
      case 'quit':
        return { reply: 'Disconnected', close: true };
      case 'shutdown':
        m.powerOff();
        return { reply: 'Shutting down', close: true };
    }
    return { reply: `could not understand: '${command}'` };
  }
}
