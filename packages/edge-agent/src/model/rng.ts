/**
 * Seedable Gaussian noise for the sampler (openpi draws `noise ~ N(0, 1)` of shape [B, H, action_dim] per chunk).
 * xoshiro128** (32-bit state words, fast in JS integer math) seeded through splitmix32, Box-Muller in float64,
 * stored as float32. Same seed, same sequence, on every platform.
 */

/** A source of standard-normal float32 samples. */
export interface NoiseSource {
  /** Overwrites `out` with independent N(0, 1) samples. */
  fill(out: Float32Array): void;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class GaussianRng implements NoiseSource {
  private readonly s = new Uint32Array(4);
  private spare = Number.NaN;

  /** `seed`: any integer (taken modulo 2^32). Default: from `Math.random()` (not reproducible). */
  constructor(seed: number = Math.floor(Math.random() * 2 ** 32)) {
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
  }

  /** Uniform uint32 (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const s0 = s[0] as number;
    const s1 = s[1] as number;
    const s2 = s[2] as number;
    const s3 = s[3] as number;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (s2 ^ s0) >>> 0;
    const n3 = (s3 ^ s1) >>> 0;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** Uniform in (0, 1): 53 bits, never 0 (so Box-Muller's log is finite). */
  nextUniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  /** One N(0, 1) sample in float64 (Box-Muller; the second value of each pair is kept for the next call). */
  nextGaussian(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = Number.NaN;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextUniform()));
    const theta = 2 * Math.PI * this.nextUniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  fill(out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.nextGaussian();
  }
}
