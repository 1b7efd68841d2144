/**
 * Camera images only when the policy is asked. The control loop's observation carries the state (and prompt) but
 * no images; the chunk broker passes it to this wrapper only on the ticks it actually infers (once per chunk), and
 * only then are the four frames converted and resized (~4 ms each for 480x640 -> 224x224) and added. The other
 * 24 of 25 ticks at 50 Hz skip that work. The frames are the cameras' newest at that moment: the same tick's,
 * since the broker calls the policy synchronously from `infer`. See docs/agent.md "Images on demand".
 */
import type { BasePolicy, ClosablePolicy, Obs, Value } from '@openpi-edge/client';

/** Builds the `images` entry of an observation (e.g. AlohaEnvironment's camera pipeline). */
export type ImageCapture = () => Promise<Value>;

export class ImagesOnDemandPolicy implements ClosablePolicy {
  readonly #inner: BasePolicy & Partial<Pick<ClosablePolicy, 'close'>>;
  readonly #capture: ImageCapture;
  /** Inferences asked for (each one calls the inner policy once). */
  inferences = 0;
  /** Observations completed with images here (those that came without). */
  captures = 0;
  /** Time spent capturing images (ms, total). */
  captureMs = 0;
  /** Per inference: capture + inner `infer` (ms), in call order. */
  readonly latencies: number[] = [];
  readonly #now: () => number;

  constructor(
    inner: BasePolicy & Partial<Pick<ClosablePolicy, 'close'>>,
    capture: ImageCapture,
    now: () => number = () => performance.now(),
  ) {
    this.#inner = inner;
    this.#capture = capture;
    this.#now = now;
  }

  /** Adds `images` (unless the observation already has them) and forwards to the inner policy. */
  async infer(obs: Obs): Promise<Obs> {
    this.inferences += 1;
    const t0 = this.#now();
    let full = obs;
    if (obs.images === undefined) {
      full = { ...obs, images: await this.#capture() };
      this.captureMs += this.#now() - t0;
      this.captures += 1;
    }
    const out = await this.#inner.infer(full);
    this.latencies.push(this.#now() - t0);
    return out;
  }

  reset(): Promise<void> | void {
    return this.#inner.reset();
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}
