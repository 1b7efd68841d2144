/**
 * JSON schemas of the recording's channels: Foxglove's where one fits (CompressedImage, JointStates, from
 * `@foxglove/schemas`), ours (`openpi_edge.*`) for the policy chunk, the gate's decisions, faults, e-stop events and
 * loop timing. Every message is JSON (`messageEncoding: json`, `schema encoding: jsonschema`); times are Foxglove's
 * `{sec, nsec}` (epoch), durations ms.
 */
import { CompressedImage, JointStates } from '@foxglove/schemas/jsonschema.js';

const time = {
  type: 'object',
  title: 'time',
  properties: {
    sec: { type: 'integer', minimum: 0 },
    nsec: { type: 'integer', minimum: 0, maximum: 999999999 },
  },
} as const;

const numberOrNull = { type: ['number', 'null'] } as const;
const numbers = { type: 'array', items: numberOrNull } as const;

const fault = {
  type: 'object',
  properties: {
    code: { type: 'string', description: 'fault code (docs/safety.md)' },
    message: { type: 'string' },
    name: { type: 'string', description: 'joint, camera or robot fault name' },
    index: { type: 'integer' },
    value: { type: 'number' },
    limit: { type: 'number' },
    source: { type: 'string', description: 'E_STOP: what latched it' },
  },
  required: ['code', 'message'],
} as const;

function object(
  title: string,
  description: string,
  properties: Record<string, unknown>,
): Record<string, unknown> {
  return {
    title,
    description,
    type: 'object',
    properties: { timestamp: time, ...properties },
    required: ['timestamp', ...Object.keys(properties)],
  };
}

export const POLICY_CHUNK_SCHEMA = object(
  'openpi_edge.PolicyChunk',
  'One policy inference: the action chunk [H, D] it returned (or the error) and its timing.',
  {
    index: { type: 'integer', description: '1-based inference number of the run (the summary counts them)' },
    episode: { type: 'integer', description: '0-based episode of the tick that asked (-1 before the first)' },
    step: { type: 'integer', description: 'step of the tick that asked (-1 before the first)' },
    requested_at: time,
    latency_ms: { type: 'number', description: 'frame pick + conversion + inference (ms)' },
    shape: { type: ['array', 'null'], items: { type: 'integer' } },
    actions: { type: ['array', 'null'], items: numbers, description: 'rows of the chunk, robot units' },
    error: { type: ['string', 'null'] },
  },
);

export const GATE_DECISION_SCHEMA = object(
  'openpi_edge.GateDecision',
  "The safety gate's decision of one control tick: moved (with clamps) or held (with the faults).",
  {
    episode: { type: 'integer' },
    step: { type: 'integer' },
    decision: { type: 'string', enum: ['move', 'hold', 'none'] },
    faults: {
      type: 'array',
      items: { type: 'string' },
      description: 'fault codes of a hold, in check order',
    },
    sent: {
      type: 'boolean',
      description: 'a command was written (a move, or a hold re-sending the last one)',
    },
    command: { type: ['array', 'null'], items: numberOrNull, description: 'the command sent, action order' },
    position_clamps: { type: 'integer' },
    rate_limits: { type: 'integer' },
    clamped: { type: 'array', items: { type: 'string' }, description: 'joints clamped into their range' },
    rate_limited: {
      type: 'array',
      items: { type: 'string' },
      description: 'joints slowed to the per-tick step',
    },
  },
);

export const RESET_DECISION_SCHEMA = object(
  'openpi_edge.ResetDecision',
  "The gate's decision on one waypoint of a reset move (home pose).",
  {
    decision: { type: 'string', enum: ['move', 'hold'] },
    faults: { type: 'array', items: { type: 'string' } },
    command: { type: ['array', 'null'], items: numberOrNull },
  },
);

export const FAULTS_SCHEMA = object(
  'openpi_edge.Faults',
  'The set of faults the gate holds on changed: the active ones now (empty = cleared), what was raised and cleared.',
  {
    episode: { type: 'integer' },
    step: { type: 'integer' },
    active: { type: 'array', items: fault },
    raised: { type: 'array', items: { type: 'string' } },
    cleared: { type: 'array', items: { type: 'string' } },
  },
);

export const ESTOP_SCHEMA = object('openpi_edge.EStop', 'An e-stop latch event.', {
  event: { type: 'string', enum: ['triggered', 'reset', 'reset_refused'] },
  source: { type: 'string' },
  reason: { type: 'string' },
});

export const LOOP_TIMING_SCHEMA = object(
  'openpi_edge.LoopTiming',
  "One control step's timing (ms, agent clock; scheduled/started as times).",
  {
    episode: { type: 'integer' },
    step: { type: 'integer' },
    tick: { type: 'integer' },
    scheduled_at: time,
    period_ms: numberOrNull,
    jitter_ms: { type: 'number' },
    observe_ms: { type: 'number' },
    act_ms: { type: 'number' },
    apply_ms: { type: 'number' },
    step_ms: { type: 'number' },
  },
);

export const LOOP_EVENT_SCHEMA = object('openpi_edge.LoopEvent', 'Episode start / end and loop overruns.', {
  event: { type: 'string', enum: ['episode-start', 'episode-end', 'overrun'] },
  episode: { type: 'integer' },
  fields: { type: 'object', additionalProperties: { type: ['number', 'string'] } },
});

export { CompressedImage as COMPRESSED_IMAGE_SCHEMA, JointStates as JOINT_STATES_SCHEMA };
