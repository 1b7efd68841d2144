/**
 * E-stop sources the agent wires up explicitly: process signals and a keyboard stream. Each attach function
 * returns a detach function that removes exactly what it added. A ROS 2 subscriber calls `EStop.trigger('ros2', ...)`
 * directly.
 */
import type { EStop } from './estop.js';

/** The part of `process` (or any EventEmitter) used for signals. */
export interface SignalTarget {
  on(event: string, listener: (signal: string) => void): unknown;
  off(event: string, listener: (signal: string) => void): unknown;
}

export interface AttachSignalsOptions {
  /** Signals that set the latch. Default `['SIGINT', 'SIGTERM']`. */
  readonly signals?: readonly string[];
  /**
   * Called after the latch is set. While a listener is attached Node does not exit on these signals: the caller
   * decides (e.g. bring the arms to rest, then exit). Default: none.
   */
  readonly onSignal?: (signal: string) => void;
}

/**
 * Sets `estop` (source `signal`, reason = the signal name) on each of `signals` emitted by `target`
 * (normally `process`). Returns the detach function.
 */
export function attachSignals(
  estop: EStop,
  target: SignalTarget,
  { signals = ['SIGINT', 'SIGTERM'], onSignal }: AttachSignalsOptions = {},
): () => void {
  const listeners = signals.map((signal) => {
    const listener = (): void => {
      estop.trigger('signal', signal);
      onSignal?.(signal);
    };
    target.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) target.off(signal, listener);
  };
}

/** The part of a readable stream (e.g. `process.stdin`) used for the keyboard. */
export interface KeyboardStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  pause(): unknown;
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface AttachKeyboardOptions {
  /** `auto`: put a TTY into raw mode (one keypress per chunk, no echo) and restore it on detach. Default `auto`. */
  readonly rawMode?: 'auto' | 'off';
  /** Called on Ctrl-C (byte 0x03, which raw mode delivers as data instead of SIGINT) after the latch is set. */
  readonly onInterrupt?: () => void;
  /** Called with the result of each reset key press (e.g. to print why it was refused). */
  readonly onReset?: (result: ReturnType<EStop['reset']>) => void;
}

const ESTOP_KEYS = new Set([' ', 'e', 'E']);
const INTERRUPT = '\u0003';
const ESC = '\u001b';

/**
 * Keyboard e-stop on `input`: space / `e` / `E` / Ctrl-C set the latch (source `keyboard`), `r` asks for a reset
 * (refused while faults persist). An `r` inside an escape sequence (arrows, function keys) never resets; e-stop
 * keys count everywhere (a spurious stop is safe, a spurious reset is not).
 * Returns the detach function (removes the listener, pauses the stream, restores raw mode).
 */
export function attachKeyboard(
  estop: EStop,
  input: KeyboardStream,
  { rawMode = 'auto', onInterrupt, onReset }: AttachKeyboardOptions = {},
): () => void {
  const raw = rawMode === 'auto' && input.isTTY === true && typeof input.setRawMode === 'function';
  if (raw) input.setRawMode?.(true);
  const onData = (chunk: Buffer | string): void => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    let inEscape = false;
    for (const ch of text) {
      if (ch === ESC) inEscape = true;
      if (ch === INTERRUPT) {
        estop.trigger('keyboard', 'Ctrl-C');
        onInterrupt?.();
      } else if (ESTOP_KEYS.has(ch)) {
        estop.trigger('keyboard', ch === ' ' ? 'space key' : `'${ch}' key`);
      } else if (ch === 'r' && !inEscape) {
        const result = estop.reset('keyboard');
        onReset?.(result);
      }
    }
  };
  input.on('data', onData);
  return () => {
    input.off('data', onData);
    input.pause();
    if (raw) input.setRawMode?.(false);
  };
}
