/**
 * openpi's `sample_actions` on the bundle's two graphs: the prefix graph once per chunk (KV cache), then the host
 * Euler loop over the denoise graph, in float32 exactly as the exporter's PyTorch reference:
 *
 *   x = noise;  dt = f32(-1/num_steps);  t = 1.0
 *   while t >= -dt/2:  x = f32(x + f32(dt * v(x, t)));  t = f32(t + dt)
 *
 * Buffers (x, t, v, the input tensors and, where the binding allows, the KV outputs) are allocated once per batch
 * size and reused, so a steady-state chunk allocates only what onnxruntime allocates internally.
 *
 * With `rtc` (batch 1) the chunk is tied to the previous one (model/rtc.ts): `guidance` runs the bundle's guidance
 * graph instead of the denoise graph on every step and corrects the velocity, `inpaint` pulls the known rows onto
 * the previous chunk around each step.
 */
import { performance } from 'node:perf_hooks';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { Tensor } from 'onnxruntime-node';
import type { GraphSession } from './graph-session.js';
import type { Manifest } from './manifest.js';
import type { Ort } from './ort-binding.js';
import { GaussianRng, type NoiseSource } from './rng.js';
import { guidanceWeight, type RtcTarget } from './rtc.js';

/** Batched model inputs, row-major with the batch first (the prefix graph's and denoise graph's layouts). */
export interface BatchInputs {
  /** Batch size B >= 1. */
  readonly batch: number;
  /** Per manifest image slot: uint8 `[B, height, width, 3]`. */
  readonly images: Readonly<Record<string, Uint8Array>>;
  /** bool `[B, slots]` as 0/1 bytes. */
  readonly imageMask: Uint8Array;
  /** int32 `[B, max_token_len]`. */
  readonly tokens: Int32Array;
  /** bool `[B, max_token_len]` as 0/1 bytes. */
  readonly tokenMask: Uint8Array;
  /** float32 `[B, action_dim]`, normalized and padded; read only when the manifest's `state_input` is `token` (pi0). */
  readonly state?: Float32Array;
}

export interface SampleOptions {
  /** Euler steps. Default: the manifest's `num_steps`. */
  numSteps?: number;
  /** Initial noise `[B, H, action_dim]` (e.g. a golden file's); default: drawn from the sampler's noise source. */
  noise?: Float32Array;
  /**
   * Benchmark mode: run the prefix graph before every denoise step instead of once (what a fused graph without a
   * KV cache costs). Results are identical; only time differs. Default false.
   */
  recomputePrefix?: boolean;
  /** Real-time chunking target (batch 1 only); `guidance` needs a bundle with the guidance graph. */
  rtc?: RtcTarget;
}

/** Per-stage wall times of one `sample` call, in ms. */
export interface SampleTiming {
  prefixMs: number;
  /** One entry per denoise step (including any recomputed prefix in benchmark mode). */
  stepMs: number[];
  totalMs: number;
}

export interface SampleResult {
  /** float32 `[B, H, action_dim]` in normalized space; a fresh array owned by the caller. */
  readonly actions: Float32Array;
  readonly timing: SampleTiming;
}

interface BatchBuffers {
  readonly x: Float32Array;
  readonly v: Float32Array;
  readonly time: Float32Array;
  readonly xTensor: Tensor;
  readonly timeTensor: Tensor;
  readonly vTensor: Tensor;
  /** Preallocated prefix outputs (null when the binding refused preallocated outputs once). */
  kv: Record<string, Tensor> | null;
}

export class Sampler {
  readonly manifest: Manifest;
  private readonly ort: Ort;
  private readonly prefix: GraphSession;
  private readonly denoise: GraphSession;
  private readonly guidance: GraphSession | null;
  private readonly noise: NoiseSource;
  private readonly buffers = new Map<number, BatchBuffers>();
  private rtcBuffers: { prev: Tensor; weights: Tensor; g: Tensor; z: Float32Array } | null = null;

  constructor(
    ort: Ort,
    manifest: Manifest,
    prefix: GraphSession,
    denoise: GraphSession,
    noise?: NoiseSource,
    guidance?: GraphSession | null,
  ) {
    this.ort = ort;
    this.manifest = manifest;
    this.prefix = prefix;
    this.denoise = denoise;
    this.guidance = guidance ?? null;
    this.noise = noise ?? new GaussianRng();
  }

  /** Whether `rtc.mode === 'guidance'` is available (the bundle has a guidance graph and it was loaded). */
  get hasGuidance(): boolean {
    return this.guidance !== null;
  }

  private rtcBuffersFor(target: RtcTarget, batch: number) {
    const { action_horizon: h, action_dim: d } = this.manifest;
    const n = h * d;
    const fail = (message: string, context: Record<string, unknown>): never => {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `real-time chunking: ${message}`, context);
    };
    if (batch !== 1) fail(`needs batch 1, got ${batch}`, { batch });
    if (target.prevChunk.length !== n || target.weights.length !== n) {
      fail(
        `previous chunk / weights have ${target.prevChunk.length} / ${target.weights.length} values, expected ${n}`,
        {
          expected: n,
        },
      );
    }
    if (target.mode === 'guidance' && this.guidance === null) {
      fail(
        'the bundle has no guidance graph (exported with --no-rtc-guidance, by an older exporter, or not loaded); use mode inpaint',
        { mode: target.mode },
      );
    }
    if (this.rtcBuffers === null) {
      this.rtcBuffers = {
        prev: new this.ort.Tensor('float32', new Float32Array(n), [1, h, d]),
        weights: new this.ort.Tensor('float32', new Float32Array(n), [1, h, d]),
        g: new this.ort.Tensor('float32', new Float32Array(n), [1, h, d]),
        z: new Float32Array(n),
      };
    }
    const b = this.rtcBuffers;
    (b.prev.data as Float32Array).set(target.prevChunk);
    (b.weights.data as Float32Array).set(target.weights);
    return b;
  }

  /** Elements of one sample's action chunk (H * action_dim). */
  get chunkSize(): number {
    return this.manifest.action_horizon * this.manifest.action_dim;
  }

  private buffersFor(batch: number): BatchBuffers {
    let b = this.buffers.get(batch);
    if (b === undefined) {
      const { action_horizon: h, action_dim: d } = this.manifest;
      const x = new Float32Array(batch * h * d);
      const v = new Float32Array(batch * h * d);
      const time = new Float32Array(batch);
      const kvDims = (spec: { shape: readonly (number | 'batch')[] }) =>
        spec.shape.map((s) => (s === 'batch' ? batch : s));
      const kv: Record<string, Tensor> = {};
      for (const o of this.manifest.graphs.prefix.outputs) {
        const dims = kvDims(o);
        const n = dims.reduce((a, c) => a * c, 1);
        kv[o.name] =
          o.dtype === 'bool'
            ? new this.ort.Tensor('bool', new Uint8Array(n), dims)
            : new this.ort.Tensor('float32', new Float32Array(n), dims);
      }
      b = {
        x,
        v,
        time,
        xTensor: new this.ort.Tensor('float32', x, [batch, h, d]),
        timeTensor: new this.ort.Tensor('float32', time, [batch]),
        vTensor: new this.ort.Tensor('float32', v, [batch, h, d]),
        kv,
      };
      this.buffers.set(batch, b);
    }
    return b;
  }

  private checkInputs(inp: BatchInputs): void {
    const m = this.manifest;
    const B = inp.batch;
    const want = (field: string, got: number, expected: number): void => {
      if (got !== expected) {
        throw new OpenpiEdgeError(
          'BAD_SHAPE',
          `sampler input ${field}: ${got} elements, expected ${expected} (batch ${B})`,
          { key: field, elements: got, expected, batch: B },
        );
      }
    };
    if (!Number.isInteger(B) || B < 1) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `batch must be a positive integer, got ${B}`, { batch: B });
    }
    for (const slot of m.images.slots) {
      const img = inp.images[slot];
      if (img === undefined) {
        throw new OpenpiEdgeError('BAD_SHAPE', `sampler input images.${slot} missing`, { key: slot });
      }
      want(`images.${slot}`, img.length, B * m.images.height * m.images.width * 3);
    }
    want('imageMask', inp.imageMask.length, B * m.images.slots.length);
    want('tokens', inp.tokens.length, B * m.max_token_len);
    want('tokenMask', inp.tokenMask.length, B * m.max_token_len);
    if (m.state_input === 'token') {
      if (inp.state === undefined) {
        throw new OpenpiEdgeError(
          'BAD_SHAPE',
          'sampler input state missing (pi0 denoise graph takes state)',
          {
            key: 'state',
          },
        );
      }
      want('state', inp.state.length, B * m.action_dim);
    }
  }

  private prefixFeeds(inp: BatchInputs): Record<string, Tensor> {
    const m = this.manifest;
    const B = inp.batch;
    const L = m.max_token_len;
    const feeds: Record<string, Tensor> = {
      image_mask: new this.ort.Tensor('bool', inp.imageMask, [B, m.images.slots.length]),
      tokenized_prompt: new this.ort.Tensor('int32', inp.tokens, [B, L]),
      tokenized_prompt_mask: new this.ort.Tensor('bool', inp.tokenMask, [B, L]),
    };
    for (const slot of m.images.slots) {
      feeds[slot] = new this.ort.Tensor('uint8', inp.images[slot] as Uint8Array, [
        B,
        m.images.height,
        m.images.width,
        3,
      ]);
    }
    return feeds;
  }

  private async runPrefix(feeds: Record<string, Tensor>, buf: BatchBuffers): Promise<Record<string, Tensor>> {
    if (buf.kv !== null) {
      try {
        return await this.prefix.run(feeds, buf.kv);
      } catch (e) {
        // Some bindings refuse preallocated outputs; fall back to onnxruntime-allocated ones for this batch size.
        buf.kv = null;
        if (!(e instanceof OpenpiEdgeError)) throw e;
      }
    }
    return this.prefix.run(feeds);
  }

  /** Samples one action chunk per batch row. BAD_SHAPE for inputs of the wrong size; INFERENCE_FAILED from onnxruntime. */
  async sample(inp: BatchInputs, options: SampleOptions = {}): Promise<SampleResult> {
    const t0 = performance.now();
    this.checkInputs(inp);
    const m = this.manifest;
    const numSteps = options.numSteps ?? m.num_steps;
    if (!Number.isInteger(numSteps) || numSteps < 1) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `numSteps must be a positive integer, got ${numSteps}`, {
        numSteps,
      });
    }
    const B = inp.batch;
    const buf = this.buffersFor(B);
    if (options.noise !== undefined) {
      if (options.noise.length !== buf.x.length) {
        throw new OpenpiEdgeError(
          'BAD_SHAPE',
          `noise has ${options.noise.length} elements, expected ${buf.x.length} ([${B}, ${m.action_horizon}, ${m.action_dim}])`,
          { key: 'noise', elements: options.noise.length, expected: buf.x.length },
        );
      }
      buf.x.set(options.noise);
    } else {
      this.noise.fill(buf.x);
    }

    const feeds = this.prefixFeeds(inp);
    let kv = await this.runPrefix(feeds, buf);
    const t1 = performance.now();
    const denoiseFeeds: Record<string, Tensor> = {
      x_t: buf.xTensor,
      time: buf.timeTensor,
      kv_keys: kv.kv_keys as Tensor,
      kv_values: kv.kv_values as Tensor,
      prefix_mask: kv.prefix_mask as Tensor,
    };
    if (m.state_input === 'token') {
      denoiseFeeds.state = new this.ort.Tensor('float32', inp.state as Float32Array, [B, m.action_dim]);
    }
    const out: Record<string, Tensor> = { v_t: buf.vTensor };
    const dt = Math.fround(-1 / numSteps);
    const stop = Math.fround(-dt / 2);
    const x = buf.x;
    const v = buf.v;
    const rtc = options.rtc;
    const rb = rtc === undefined ? null : this.rtcBuffersFor(rtc, B);
    const guided = rtc?.mode === 'guidance';
    const graph = guided ? (this.guidance as GraphSession) : this.denoise;
    if (rb !== null) {
      rb.z.set(x);
      if (guided) {
        denoiseFeeds.prev_chunk = rb.prev;
        denoiseFeeds.guide_weights = rb.weights;
        out.guidance = rb.g;
      }
    }
    const Y = rb === null ? null : (rb.prev.data as Float32Array);
    const W = rb === null ? null : (rb.weights.data as Float32Array);
    const stepMs: number[] = [];
    let t = 1;
    let step = 0;
    while (t >= stop) {
      const s0 = performance.now();
      if (options.recomputePrefix === true && step > 0) {
        kv = await this.runPrefix(feeds, buf);
        denoiseFeeds.kv_keys = kv.kv_keys as Tensor;
        denoiseFeeds.kv_values = kv.kv_values as Tensor;
        denoiseFeeds.prefix_mask = kv.prefix_mask as Tensor;
      }
      if (rb !== null && !guided) inpaint(x, rb.z, Y as Float32Array, W as Float32Array, t);
      buf.time.fill(t);
      const res = await graph.run(denoiseFeeds, out, { step, t });
      const vt = res.v_t?.data as Float32Array | undefined;
      const src = vt === undefined || vt === v ? v : vt;
      if (guided && rb !== null) {
        const gOut = res.guidance?.data as Float32Array | undefined;
        const g = gOut ?? (rb.g.data as Float32Array);
        const w = Math.fround(guidanceWeight(t, rtc?.maxGuidance ?? 0));
        for (let i = 0; i < x.length; i++) {
          const vg = Math.fround((src[i] as number) - Math.fround(w * (g[i] as number)));
          x[i] = Math.fround((x[i] as number) + Math.fround(dt * vg));
        }
      } else {
        for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + Math.fround(dt * (src[i] as number));
      }
      t = Math.fround(t + dt);
      step++;
      stepMs.push(performance.now() - s0);
    }
    if (rb !== null && !guided) inpaint(x, rb.z, Y as Float32Array, W as Float32Array, 0);
    const actions = Float32Array.from(x);
    return { actions, timing: { prefixMs: t1 - t0, stepMs, totalMs: performance.now() - t0 } };
  }
}

/**
 * x <- x + W ⊙ (t z + (1-t) Y - x) in float32: the known rows onto the previous chunk noised to time t with the
 * chunk's initial noise z (t = 0: onto Y itself).
 */
function inpaint(x: Float32Array, z: Float32Array, y: Float32Array, w: Float32Array, t: number): void {
  const a = Math.fround(t);
  const b = Math.fround(1 - t);
  for (let i = 0; i < x.length; i++) {
    const wi = w[i] as number;
    if (wi === 0) continue;
    const target = Math.fround(Math.fround(a * (z[i] as number)) + Math.fround(b * (y[i] as number)));
    // W = 1 (a frozen row) assigns, so the executed rows end exactly on the previous chunk.
    x[i] =
      wi === 1
        ? target
        : Math.fround((x[i] as number) + Math.fround(wi * Math.fround(target - (x[i] as number))));
  }
}
