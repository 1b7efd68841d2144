/**
 * Reader for a bundle's `golden.json` (docs/bundle-format.md, "Golden file"): arrays are
 * `{dtype, shape, data}` (flat row-major numbers; float32 printed exactly) or `{dtype: "uint8", shape, base64}`.
 */
import { readFile } from 'node:fs/promises';
import { type NDArray, OpenpiEdgeError, type Value } from '@openpi-edge/client';
import { z } from 'zod';

const arraySchema = z.union([
  z.object({
    dtype: z.enum(['uint8', 'bool', 'int32', 'int64', 'float32', 'float64']),
    shape: z.array(z.number().int().nonnegative()),
    data: z.array(z.number()),
  }),
  z.object({ dtype: z.literal('uint8'), shape: z.array(z.number().int().nonnegative()), base64: z.string() }),
]);
type GoldenArrayJson = z.infer<typeof arraySchema>;

const goldenSchema = z.object({
  format: z.literal('openpi-edge-golden/1'),
  num_steps: z.number().int().positive(),
  raw_observation: z.record(z.string(), z.unknown()),
  model_inputs: z.record(z.string(), arraySchema),
  prompt_text: z.string(),
  noise: arraySchema,
  v_t_first: arraySchema.optional(),
  model_actions: arraySchema,
  actions: arraySchema,
  tolerance: z.object({ model_atol: z.number().positive(), actions_atol: z.number().positive() }),
  /** Real-time chunking references by PyTorch autograd (trainer/openpi_edge_export/rtc_export.py `rtc_golden`). */
  rtc: z
    .object({
      delay: z.number().int().nonnegative(),
      overlap: z.number().int().nonnegative(),
      schedule: z.enum(['exp', 'linear', 'ones', 'zeros']),
      max_guidance: z.number().nonnegative(),
      valid_dims: z.number().int().positive(),
      prev_chunk: arraySchema,
      guide_weights: arraySchema,
      guidance_first: arraySchema,
      guided_model_actions: arraySchema,
      inpainted_model_actions: arraySchema,
    })
    .optional(),
});

/** A parsed golden file: arrays as NDArrays, the raw observation as an openpi observation value tree. */
export interface Golden {
  numSteps: number;
  rawObservation: { [key: string]: Value };
  modelInputs: Record<string, NDArray>;
  promptText: string;
  noise: NDArray<'float32'>;
  vtFirst: NDArray<'float32'> | null;
  modelActions: NDArray<'float32'>;
  actions: NDArray<'float64'>;
  tolerance: { modelAtol: number; actionsAtol: number };
  /** Real-time chunking references (null in golden files written before them). */
  rtc: GoldenRtc | null;
}

/** The golden file's `rtc` section: a previous chunk, its weights, and the autograd reference outputs. */
export interface GoldenRtc {
  delay: number;
  overlap: number;
  schedule: 'exp' | 'linear' | 'ones' | 'zeros';
  maxGuidance: number;
  validDims: number;
  /** `[1, H, action_dim]`, normalized model space. */
  prevChunk: NDArray<'float32'>;
  guideWeights: NDArray<'float32'>;
  /** g at t = 1 with x_t = the golden noise. */
  guidanceFirst: NDArray<'float32'>;
  guidedModelActions: NDArray<'float32'>;
  inpaintedModelActions: NDArray<'float32'>;
}

function toArray(j: GoldenArrayJson, field: string): NDArray {
  const n = j.shape.reduce((a, b) => a * b, 1);
  let arr: NDArray;
  if ('base64' in j) {
    const bytes = Buffer.from(j.base64, 'base64');
    arr = {
      dtype: 'uint8',
      shape: j.shape,
      data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
    };
  } else {
    switch (j.dtype) {
      case 'uint8':
        arr = { dtype: 'uint8', shape: j.shape, data: Uint8Array.from(j.data) };
        break;
      case 'bool':
        arr = { dtype: 'bool', shape: j.shape, data: Uint8Array.from(j.data, (v) => (v ? 1 : 0)) };
        break;
      case 'int32':
        arr = { dtype: 'int32', shape: j.shape, data: Int32Array.from(j.data) };
        break;
      case 'int64':
        arr = { dtype: 'int64', shape: j.shape, data: BigInt64Array.from(j.data, (v) => BigInt(v)) };
        break;
      case 'float32':
        arr = { dtype: 'float32', shape: j.shape, data: Float32Array.from(j.data) };
        break;
      case 'float64':
        arr = { dtype: 'float64', shape: j.shape, data: Float64Array.from(j.data) };
        break;
    }
  }
  if (arr.data.length !== n) {
    throw new OpenpiEdgeError(
      'BAD_BUNDLE',
      `golden ${field}: ${arr.data.length} values for shape [${j.shape}]`,
      {
        field,
        shape: j.shape,
      },
    );
  }
  return arr;
}

function toValue(v: unknown, field: string): Value {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const parsed = arraySchema.safeParse(v);
    if (parsed.success) return toArray(parsed.data, field);
    const out: { [key: string]: Value } = {};
    for (const [k, x] of Object.entries(v)) out[k] = toValue(x, `${field}.${k}`);
    return out;
  }
  return v as Value;
}

/** Reads and checks `path`. BAD_BUNDLE naming the file and field. */
export async function readGolden(path: string): Promise<Golden> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new OpenpiEdgeError('BAD_BUNDLE', `${path}: ${(e as Error).message}`, { file: path });
  }
  const parsed = goldenSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const field = i?.path.map(String).join('.') ?? '';
    throw new OpenpiEdgeError('BAD_BUNDLE', `${path}: ${field}: ${i?.message ?? 'invalid'}`, {
      file: path,
      field,
    });
  }
  const g = parsed.data;
  const modelInputs: Record<string, NDArray> = {};
  for (const [k, a] of Object.entries(g.model_inputs)) modelInputs[k] = toArray(a, `model_inputs.${k}`);
  return {
    numSteps: g.num_steps,
    rawObservation: toValue(g.raw_observation, 'raw_observation') as { [key: string]: Value },
    modelInputs,
    promptText: g.prompt_text,
    noise: toArray(g.noise, 'noise') as NDArray<'float32'>,
    vtFirst: g.v_t_first === undefined ? null : (toArray(g.v_t_first, 'v_t_first') as NDArray<'float32'>),
    modelActions: toArray(g.model_actions, 'model_actions') as NDArray<'float32'>,
    actions: toArray(g.actions, 'actions') as NDArray<'float64'>,
    tolerance: { modelAtol: g.tolerance.model_atol, actionsAtol: g.tolerance.actions_atol },
    rtc:
      g.rtc === undefined
        ? null
        : {
            delay: g.rtc.delay,
            overlap: g.rtc.overlap,
            schedule: g.rtc.schedule,
            maxGuidance: g.rtc.max_guidance,
            validDims: g.rtc.valid_dims,
            prevChunk: toArray(g.rtc.prev_chunk, 'rtc.prev_chunk') as NDArray<'float32'>,
            guideWeights: toArray(g.rtc.guide_weights, 'rtc.guide_weights') as NDArray<'float32'>,
            guidanceFirst: toArray(g.rtc.guidance_first, 'rtc.guidance_first') as NDArray<'float32'>,
            guidedModelActions: toArray(
              g.rtc.guided_model_actions,
              'rtc.guided_model_actions',
            ) as NDArray<'float32'>,
            inpaintedModelActions: toArray(
              g.rtc.inpainted_model_actions,
              'rtc.inpainted_model_actions',
            ) as NDArray<'float32'>,
          },
  };
}

/** Largest |a - b| over two equal-length arrays; Infinity when lengths differ or either side has a NaN. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    if (d > m) m = d;
  }
  return m;
}
