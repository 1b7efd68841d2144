/**
 * Real-time chunking (RTC, Black et al. 2025): the next chunk is generated while the current one executes, as an
 * inpainting problem on the rows the two chunks share. The math the sampler applies (docs/rtc.md; the exporter's
 * side is trainer/openpi_edge_export/rtc_export.py), in openpi's time convention (t = 1 noise -> 0 clean):
 *
 * - `guidance`: every Euler step runs the bundle's guidance graph, which returns v = v(x_t, t) and the
 *   vector-Jacobian product g = (∂x̂/∂x_t)ᵀ [W ⊙ (Y - x̂)] with x̂ = x_t - t v; the step uses
 *   v' = v - min(β, (t² + (1-t)²) / (t (1-t))) g.
 * - `inpaint` (training-free, no VJP, any bundle): before every step the known rows are pulled onto the previous
 *   chunk noised to the current time with the chunk's own initial noise z, x <- x + W ⊙ (t z + (1-t) Y - x), and
 *   after the last step onto Y itself.
 *
 * Y is the previous chunk in normalized model space, aligned so that row i is the action for the same moment as
 * the new chunk's row i; W is the soft mask of {@link prefixWeights} over rows and zero on dims the robot does not
 * command.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';

/** How the next chunk is tied to the executing one. */
export type RtcMode = 'guidance' | 'inpaint';
/** The soft mask's decay over the overlap after the frozen rows. */
export type RtcSchedule = 'exp' | 'linear' | 'ones' | 'zeros';

export const RTC_MODES: readonly RtcMode[] = ['guidance', 'inpaint'];
export const RTC_SCHEDULES: readonly RtcSchedule[] = ['exp', 'linear', 'ones', 'zeros'];
/** β, the cap on the guidance weight (the paper's evaluation default). */
export const DEFAULT_MAX_GUIDANCE = 5;

/**
 * Row weights `[horizon]`: 1 for rows `< delay` (they execute while the new chunk is computed), a decay from 1 to
 * 0 over rows `delay .. overlap-1` with c = (overlap - i) / (overlap - delay + 1) (`exp`: c (e^c - 1) / (e - 1),
 * `linear`: c, `ones`: 1, `zeros`: 0), and 0 from row `overlap` on (the previous chunk has no such rows).
 * `delay` and `overlap` are clamped to `[0, horizon]`, `delay` to `overlap`.
 */
export function prefixWeights(
  delay: number,
  overlap: number,
  horizon: number,
  schedule: RtcSchedule = 'exp',
): Float64Array {
  const n = Math.max(0, Math.min(Math.trunc(overlap), horizon));
  const d = Math.max(0, Math.min(Math.trunc(delay), n));
  const w = new Float64Array(horizon);
  for (let i = 0; i < d; i++) w[i] = 1;
  for (let i = d; i < n; i++) {
    const c = (n - i) / (n - d + 1);
    w[i] =
      schedule === 'exp'
        ? (c * Math.expm1(c)) / Math.expm1(1)
        : schedule === 'linear'
          ? c
          : schedule === 'ones'
            ? 1
            : 0;
  }
  return w;
}

/** min(β, (t² + (1-t)²) / (t (1-t))) at openpi time t; β where t (1-t) <= 0 (the first and last step's limits). */
export function guidanceWeight(t: number, maxGuidance: number): number {
  const den = t * (1 - t);
  if (!(den > 0)) return maxGuidance;
  return Math.min(maxGuidance, (t * t + (1 - t) * (1 - t)) / den);
}

/** What the sampler needs to tie one chunk to the previous one (batch 1). */
export interface RtcTarget {
  readonly mode: RtcMode;
  /** Y: float32 `[H * action_dim]`, zero where unknown. */
  readonly prevChunk: Float32Array;
  /** W: float32 `[H * action_dim]`. */
  readonly weights: Float32Array;
  /** β (guidance only). */
  readonly maxGuidance: number;
}

export interface RtcTargetInput {
  readonly mode: RtcMode;
  /** The previous chunk's rows from the new observation's moment on, normalized model space, `[rows, actionDim]`. */
  readonly prev: Float32Array;
  readonly rows: number;
  /** Leading dims the robot commands (the rest get weight 0). */
  readonly dims: number;
  /** Rows that execute before the new chunk can take over (steps). */
  readonly delay: number;
  readonly schedule?: RtcSchedule;
  readonly maxGuidance?: number;
  readonly horizon: number;
  readonly actionDim: number;
}

/** Builds Y and W for one chunk. BAD_ARGUMENT for sizes that do not fit the model or a bad β / delay. */
export function rtcTarget(input: RtcTargetInput): RtcTarget {
  const { horizon: h, actionDim: a, rows, dims, delay } = input;
  const beta = input.maxGuidance ?? DEFAULT_MAX_GUIDANCE;
  const bad = (message: string, context: Record<string, unknown>): never => {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `real-time chunking: ${message}`, context);
  };
  if (!Number.isInteger(rows) || rows < 0 || input.prev.length !== rows * a) {
    bad(`previous chunk has ${input.prev.length} values, expected ${rows} rows of ${a}`, {
      rows,
      actionDim: a,
    });
  }
  if (!Number.isInteger(dims) || dims < 1 || dims > a)
    bad(`dims ${dims} outside 1..${a}`, { dims, actionDim: a });
  if (!Number.isInteger(delay) || delay < 0)
    bad(`delay must be a non-negative integer, got ${delay}`, { delay });
  if (!(beta >= 0) || !Number.isFinite(beta))
    bad(`max guidance must be finite and >= 0, got ${beta}`, { beta });
  const n = Math.min(rows, h);
  const rowWeights = prefixWeights(delay, n, h, input.schedule ?? 'exp');
  const prevChunk = new Float32Array(h * a);
  prevChunk.set(input.prev.subarray(0, n * a));
  const weights = new Float32Array(h * a);
  for (let r = 0; r < n; r++) weights.fill(rowWeights[r] as number, r * a, r * a + dims);
  return { mode: input.mode, prevChunk, weights, maxGuidance: beta };
}
