/**
 * The startup report `edge-agent start` prints before the first tick: model, execution provider, transport,
 * cameras, loop settings, safety limits and how to stop. Built as data first (tests read it), then formatted.
 */
import type { AgentConfig } from '../config/schema.js';
import type { SafetyConfig } from '../safety/config.js';

export interface StartupReport {
  /** Robot plugin name, e.g. `aloha`. */
  robot: string;
  /** e.g. `pi0 bundle /path (H=50, 10 steps)` or `remote ws://host:8000`. */
  model: string;
  /** e.g. `cpu (fell back from tensorrt: ..., cuda: ...); onnxruntime 1.30.0 (onnxruntime-node); warm-up 74 ms`. */
  providers: string;
  /** Prompt sent, or the model's default. */
  prompt: string;
  transport: string;
  /** The robot's bring-up, step by step (robots/interface.ts `bringUp`); empty when it reports none. */
  bringUp: string[];
  cameras: string[];
  control: string;
  limits: string[];
  stop: string;
}

const r3 = (x: number): string => Number(x.toPrecision(3)).toString();

/** The lines of `limits`: ranges and speeds as the gate enforces them, the watchdog and the latch. */
export function describeLimits(s: SafetyConfig): string[] {
  const arms = s.joints.filter((j) => j.kind === 'joint');
  const grippers = s.joints.filter((j) => j.kind === 'gripper');
  const speeds = [...new Set(arms.map((j) => j.maxVelocity))];
  const gspeeds = [...new Set(grippers.map((j) => j.maxVelocity))];
  const lines = [
    `arm joints: ${speeds.map((v) => `${r3(v)} rad/s (${r3(v / s.controlRateHz)} rad/tick)`).join(', ')}, ` +
      `ranges ${[...new Map(arms.map((j) => [j.name.replace(/^(left|right)_/, ''), j])).entries()]
        .map(([name, j]) => `${name} [${r3(j.min)}, ${r3(j.max)}]`)
        .join(', ')} rad`,
    `grippers: ${gspeeds.map((v) => `${r3(v)} /s`).join(', ')}, range [0, 1] normalised; ` +
      `reject beyond limits + ${[...new Set(s.joints.map((j) => j.rejectMargin))].join('/')}`,
    `watchdog: joint state ${s.watchdog.jointStaleMs} ms, cameras ${s.watchdog.cameraStaleMs} ms ` +
      `(${s.watchdog.requiredCameras.join(', ') || 'none required'}), policy stall ${s.watchdog.policyStallMs} ms; ` +
      `latch e-stop on: ${s.latchOn.length === 0 ? 'nothing' : s.latchOn.join(', ')}`,
  ];
  return lines;
}

export function describeControl(c: AgentConfig): string {
  const seconds = c.maxSteps > 0 ? ` (${r3(c.maxSteps / c.controlHz)} s)` : '';
  return (
    `${c.controlHz} Hz, execution horizon ${c.actionHorizon}, ${c.broker} broker, ` +
    (c.rtc.mode === 'off'
      ? ''
      : `real-time chunking ${c.rtc.mode} (${c.rtc.schedule} mask${c.rtc.mode === 'guidance' ? `, max guidance ${c.rtc.maxGuidance}` : ''}), `) +
    `${c.episodes} episode${c.episodes === 1 ? '' : 's'} x ${c.maxSteps > 0 ? `${c.maxSteps} steps${seconds}` : 'unbounded'}, ` +
    `policy deadline ${c.policyTimeoutMs} ms, reset ${c.reset ? 'to home pose' : 'off (hold)'}`
  );
}

export function formatStartupReport(r: StartupReport): string {
  const rows: [string, string | string[]][] = [
    ['model', r.model],
    ['providers', r.providers],
    ['prompt', r.prompt],
    ['transport', r.transport],
    ...(r.bringUp.length === 0 ? [] : ([['bring-up', r.bringUp]] as [string, string[]][])),
    ['cameras', r.cameras],
    ['control', r.control],
    ['limits', r.limits],
    ['stop', r.stop],
  ];
  const out = [`openpi-edge agent: ${r.robot}`];
  for (const [k, v] of rows) {
    const lines = Array.isArray(v) ? v : [v];
    lines.forEach((line, i) => {
      out.push(`  ${(i === 0 ? k : '').padEnd(10)} ${line}`);
    });
  }
  return out.join('\n');
}
