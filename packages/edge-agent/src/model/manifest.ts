/**
 * The bundle's `manifest.json` (docs/bundle-format.md, format_version 1) as a zod schema, plus the cross-field
 * checks zod cannot express (graph I/O names and shapes against the sizes the manifest declares).
 * Unknown keys are ignored (forward compatibility); any other `format_version` is rejected.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** One graph input/output: `shape` entries are ints or the symbol `"batch"` (the only dynamic axis). */
export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(['uint8', 'bool', 'int32', 'float32']),
  shape: z.array(z.union([z.number().int().nonnegative(), z.literal('batch')])),
});

export const GraphSpecSchema = z.object({
  file: z.string().min(1),
  external_data: z.string().min(1).nullish(),
  opset: z.number().int().optional(),
  precision: z.enum(['float32', 'float16']).default('float32'),
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
});

const robotKind = z.enum(['aloha', 'libero', 'droid', 'ur5', 'none']);

export const ManifestSchema = z.object({
  format_version: z.literal(1),
  model_type: z.enum(['pi0', 'pi05']),
  action_dim: positiveInt,
  action_horizon: positiveInt,
  max_token_len: positiveInt,
  num_steps: positiveInt,
  discrete_state_input: z.boolean(),
  state_input: z.enum(['token', 'prompt', 'none']),
  images: z.object({
    slots: z.tuple([z.literal('base_0_rgb'), z.literal('left_wrist_0_rgb'), z.literal('right_wrist_0_rgb')]),
    height: positiveInt,
    width: positiveInt,
    dtype: z.literal('uint8'),
    layout: z.literal('NHWC'),
  }),
  graphs: z.object({
    prefix: GraphSpecSchema,
    denoise: GraphSpecSchema,
    /** Real-time chunking's VJP graph (trainer/openpi_edge_export/rtc_export.py); optional, batch 1. */
    guidance: GraphSpecSchema.optional(),
  }),
  kv_cache: z.object({
    num_layers: positiveInt,
    num_kv_heads: positiveInt,
    head_dim: positiveInt,
    prefix_len: positiveInt,
    layout: z.literal('layer,batch,kv_head,position,head_dim'),
    dtype: z.literal('float32'),
  }),
  normalization: z.object({ mode: z.enum(['zscore', 'quantile']), stats_file: z.string().min(1) }),
  tokenizer: z.object({
    file: z.string().min(1),
    kind: z.literal('sentencepiece'),
    vocab_size: positiveInt.optional(),
    bos_id: z.number().int().nonnegative(),
    eos_id: z.number().int().nonnegative(),
    pad_id: z.literal(0),
    prompt_format: z.enum(['pi0', 'pi05']),
  }),
  robot: z.object({ kind: robotKind, options: z.record(z.string(), z.unknown()).default({}) }),
  default_prompt: z.string().nullish(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  golden: z.object({ file: z.string().min(1), atol: z.number().positive().optional() }).nullish(),
  model_config: z.record(z.string(), z.unknown()).optional(),
  provenance: z.record(z.string(), z.unknown()).optional(),
});

export type TensorSpec = z.infer<typeof TensorSpecSchema>;
export type GraphSpec = z.infer<typeof GraphSpecSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
/** `"prefix"`, `"denoise"` or `"guidance"`. */
export type GraphName = keyof Manifest['graphs'];

/** `a.b[2].c` from a zod issue path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

/**
 * Validates decoded manifest JSON. BAD_BUNDLE whose message starts with `<file>: <field>:` and whose context holds
 * `file`, `field` and every zod issue.
 */
export function parseManifest(json: unknown, file = 'manifest.json'): Manifest {
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ field: fieldPath(i.path), message: i.message }));
    const first = issues[0] ?? { field: '', message: 'invalid' };
    throw new OpenpiEdgeError('BAD_BUNDLE', `${file}: ${first.field || '(root)'}: ${first.message}`, {
      file,
      field: first.field,
      issues,
    });
  }
  const m = parsed.data;
  checkConsistency(m, file);
  return m;
}

/** The I/O each graph must have, derived from the manifest's sizes (docs/bundle-format.md, prefix/denoise tables). */
export function expectedGraphIO(
  m: Manifest,
): Record<GraphName, { inputs: TensorSpec[]; outputs: TensorSpec[] }> {
  const { num_layers: nl, num_kv_heads: kh, head_dim: hd, prefix_len: p } = m.kv_cache;
  const L = m.max_token_len;
  const kv: TensorSpec[] = [
    { name: 'kv_keys', dtype: 'float32', shape: [nl, 'batch', kh, p, hd] },
    { name: 'kv_values', dtype: 'float32', shape: [nl, 'batch', kh, p, hd] },
    { name: 'prefix_mask', dtype: 'bool', shape: ['batch', p] },
  ];
  const chunk: TensorSpec['shape'] = ['batch', m.action_horizon, m.action_dim];
  return {
    prefix: {
      inputs: [
        ...m.images.slots.map(
          (name): TensorSpec => ({
            name,
            dtype: 'uint8',
            shape: ['batch', m.images.height, m.images.width, 3],
          }),
        ),
        { name: 'image_mask', dtype: 'bool', shape: ['batch', m.images.slots.length] },
        { name: 'tokenized_prompt', dtype: 'int32', shape: ['batch', L] },
        { name: 'tokenized_prompt_mask', dtype: 'bool', shape: ['batch', L] },
      ],
      outputs: kv,
    },
    denoise: {
      inputs: [
        { name: 'x_t', dtype: 'float32', shape: chunk },
        { name: 'time', dtype: 'float32', shape: ['batch'] },
        ...(m.state_input === 'token'
          ? [{ name: 'state', dtype: 'float32', shape: ['batch', m.action_dim] } satisfies TensorSpec]
          : []),
        ...kv,
      ],
      outputs: [{ name: 'v_t', dtype: 'float32', shape: chunk }],
    },
    guidance: guidanceIO(m, kv),
  };
}

/** The guidance graph's I/O: the denoise graph's at batch 1, plus the previous chunk and its weights. */
function guidanceIO(m: Manifest, kv: readonly TensorSpec[]): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const one = (t: TensorSpec): TensorSpec => ({ ...t, shape: t.shape.map((d) => (d === 'batch' ? 1 : d)) });
  const chunk: TensorSpec['shape'] = [1, m.action_horizon, m.action_dim];
  return {
    inputs: [
      { name: 'x_t', dtype: 'float32', shape: chunk },
      { name: 'time', dtype: 'float32', shape: [1] },
      ...(m.state_input === 'token'
        ? [{ name: 'state', dtype: 'float32', shape: [1, m.action_dim] } satisfies TensorSpec]
        : []),
      ...kv.map(one),
      { name: 'prev_chunk', dtype: 'float32', shape: chunk },
      { name: 'guide_weights', dtype: 'float32', shape: chunk },
    ],
    outputs: [
      { name: 'v_t', dtype: 'float32', shape: chunk },
      { name: 'guidance', dtype: 'float32', shape: chunk },
    ],
  };
}

const shapeText = (s: readonly (number | string)[]): string => `[${s.join(', ')}]`;

/**
 * Compares I/O lists as sets by name: every expected tensor must be present with the same dtype and shape, and
 * nothing else may be required. `where` prefixes the field (e.g. `graphs.prefix.inputs`).
 */
export function compareIO(
  actual: readonly { name: string; dtype: string; shape: readonly (number | string)[] }[],
  expected: readonly TensorSpec[],
  where: string,
  file: string,
): void {
  const byName = new Map(actual.map((t, i) => [t.name, { t, i }]));
  for (const e of expected) {
    const a = byName.get(e.name);
    if (a === undefined) {
      throw new OpenpiEdgeError(
        'BAD_BUNDLE',
        `${file}: ${where}: missing tensor '${e.name}' (have ${actual.map((t) => t.name).join(', ') || 'none'})`,
        { file, field: where, name: e.name, names: actual.map((t) => t.name) },
      );
    }
    const field = `${where}[${a.i}]`;
    if (a.t.dtype !== e.dtype) {
      throw new OpenpiEdgeError(
        'BAD_BUNDLE',
        `${file}: ${field} '${e.name}': dtype ${a.t.dtype}, expected ${e.dtype}`,
        { file, field: `${field}.dtype`, name: e.name, dtype: a.t.dtype, expected: e.dtype },
      );
    }
    const same =
      a.t.shape.length === e.shape.length &&
      e.shape.every((d, k) => {
        const got = a.t.shape[k];
        // Graphs name the dynamic axis 'batch'; ORT may also report -1 or another symbol for a free dim.
        return d === 'batch' ? typeof got === 'string' || got === -1 : got === d;
      });
    if (!same) {
      throw new OpenpiEdgeError(
        'BAD_BUNDLE',
        `${file}: ${field} '${e.name}': shape ${shapeText(a.t.shape)}, expected ${shapeText(e.shape)}`,
        { file, field: `${field}.shape`, name: e.name, shape: [...a.t.shape], expected: e.shape },
      );
    }
  }
  const known = new Set(expected.map((e) => e.name));
  const extra = actual.find((t) => !known.has(t.name));
  if (extra !== undefined) {
    throw new OpenpiEdgeError(
      'BAD_BUNDLE',
      `${file}: ${where}: unexpected tensor '${extra.name}' (expected ${[...known].join(', ')})`,
      { file, field: where, name: extra.name },
    );
  }
}

function checkConsistency(m: Manifest, file: string): void {
  const fail = (field: string, message: string, context: Record<string, unknown> = {}): never => {
    throw new OpenpiEdgeError('BAD_BUNDLE', `${file}: ${field}: ${message}`, { file, field, ...context });
  };
  const stateInput = m.model_type === 'pi0' ? 'token' : m.discrete_state_input ? 'prompt' : 'none';
  if (m.state_input !== stateInput) {
    fail('state_input', `'${m.state_input}' contradicts model_type ${m.model_type} / discrete_state_input`, {
      expected: stateInput,
    });
  }
  const patches = m.images.slots.length * Math.floor(m.images.height / 14) * Math.floor(m.images.width / 14);
  if (m.kv_cache.prefix_len !== patches + m.max_token_len) {
    fail(
      'kv_cache.prefix_len',
      `${m.kv_cache.prefix_len}, expected ${patches} image tokens + ${m.max_token_len}`,
    );
  }
  const io = expectedGraphIO(m);
  for (const g of ['prefix', 'denoise', 'guidance'] as const) {
    const spec = m.graphs[g];
    if (spec === undefined) continue;
    compareIO(spec.inputs, io[g].inputs, `graphs.${g}.inputs`, file);
    compareIO(spec.outputs, io[g].outputs, `graphs.${g}.outputs`, file);
  }
}
