/**
 * Robot adapters behind one interface, chosen by the manifest's `robot` object
 * (`{ "kind": "aloha" | "libero" | "droid" | "ur5" | "none", "options": {...} }`, docs/bundle-format.md).
 */
import { OpenpiEdgeError, type Value } from '@openpi-edge/client';
import { type AlohaOptions, alohaActionsToModel, alohaInputs, alohaOutputs } from './aloha.js';
import { type DroidOptions, droidInputs, droidOutputs } from './droid.js';
import { type LiberoOptions, liberoInputs, liberoOutputs } from './libero.js';
import { type ModelLayoutOptions, modelLayoutInputs, modelLayoutOutputs } from './model-layout.js';
import type { ActionChunk, AdaptedInputs } from './types.js';
import { type Ur5Options, ur5Inputs, ur5Outputs } from './ur5.js';

/** Options every adapter kind accepts besides its own. */
export interface DeltaOptions {
  /**
   * Dims whose actions are relative to the state (openpi's `AbsoluteActions` mask, e.g. ALOHA
   * `make_bool_mask(6, -1, 6, -1)`); null or absent: actions are absolute. Default null.
   */
  delta_action_mask?: readonly boolean[] | null;
}

/** The manifest's `robot` object. Option names are the manifest's (snake_case). */
export type RobotSpec =
  | { kind: 'aloha'; options?: AlohaOptions & DeltaOptions }
  | { kind: 'libero'; options?: LiberoOptions & DeltaOptions }
  | { kind: 'droid'; options?: DroidOptions & DeltaOptions }
  | { kind: 'ur5'; options?: Ur5Options & DeltaOptions }
  | { kind: 'none'; options?: ModelLayoutOptions & DeltaOptions };

/** A robot's input and output transforms (openpi's `*Inputs` / `*Outputs`) plus its delta-action mask. */
export interface RobotAdapter {
  readonly kind: RobotSpec['kind'];
  /** Observation in the robot's layout -> model layout (unnormalized, not resized). BAD_OBSERVATION on bad input. */
  inputs(obs: { readonly [key: string]: Value }): AdaptedInputs;
  /** Model-space float64 chunk `[H, D]` (unnormalized, absolute) -> the robot's action chunk. */
  outputs(actions: ActionChunk): ActionChunk;
  /**
   * The inverse of `outputs` on the columns it returns: robot actions `[n, D]` -> model space `[n, D]`
   * (unnormalized, absolute). Real-time chunking hands the executing chunk back to the model through it.
   */
  actionsToModel(actions: ActionChunk): ActionChunk;
  /** Mask for `AbsoluteActions`, or null. */
  readonly deltaActionMask: readonly boolean[] | null;
}

/** Builds the adapter for a manifest `robot` spec; BAD_ARGUMENT for an unknown kind or inconsistent options. */
export function createRobotAdapter(spec: RobotSpec): RobotAdapter {
  const mask = spec.options?.delta_action_mask ?? null;
  if (mask !== null && (!Array.isArray(mask) || mask.some((m) => typeof m !== 'boolean'))) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      'robot.options.delta_action_mask must be a list of booleans or null',
      {
        field: 'robot.options.delta_action_mask',
      },
    );
  }
  // Every adapter but ALOHA's only slices columns: the kept columns are already in model space.
  const base = {
    deltaActionMask: mask === null ? null : [...mask],
    actionsToModel: (a: ActionChunk): ActionChunk => ({ ...a, data: Float64Array.from(a.data) }),
  };
  switch (spec.kind) {
    case 'aloha': {
      const o = spec.options ?? {};
      if (o.adapt_to_pi !== false && (o.state_dim ?? 14) !== 14) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `robot.options.state_dim must be 14 with adapt_to_pi, got ${o.state_dim}`,
          {
            field: 'robot.options.state_dim',
          },
        );
      }
      return {
        ...base,
        kind: 'aloha',
        inputs: (obs) => alohaInputs(obs, o),
        outputs: (a) => alohaOutputs(a, o),
        actionsToModel: (a) => alohaActionsToModel(a, o),
      };
    }
    case 'libero': {
      const o = spec.options ?? {};
      return {
        ...base,
        kind: 'libero',
        inputs: (obs) => liberoInputs(obs, o),
        outputs: (a) => liberoOutputs(a, o),
      };
    }
    case 'droid': {
      const o = spec.options ?? {};
      return {
        ...base,
        kind: 'droid',
        inputs: (obs) => droidInputs(obs, o),
        outputs: (a) => droidOutputs(a, o),
      };
    }
    case 'ur5': {
      const o = spec.options ?? {};
      return { ...base, kind: 'ur5', inputs: (obs) => ur5Inputs(obs, o), outputs: (a) => ur5Outputs(a, o) };
    }
    case 'none': {
      const o = spec.options ?? {};
      return {
        ...base,
        kind: 'none',
        inputs: (obs) => modelLayoutInputs(obs, o),
        outputs: (a) => modelLayoutOutputs(a, o),
      };
    }
    default: {
      const kind: string = (spec as { kind: string }).kind;
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `unknown robot.kind '${kind}' (expected aloha, libero, droid, ur5 or none)`,
        {
          field: 'robot.kind',
          kind,
        },
      );
    }
  }
}
