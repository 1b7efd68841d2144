/**
 * A STAND-IN for the LIBERO simulator (robosuite/MuJoCo, Python only): a point end effector with an orientation and
 * a two-finger gripper, rendering two 256×256 RGB frames the way LIBERO's `agentview_image` and
 * `robot0_eye_in_hand_image` come out of the simulator (bottom-up, hence openpi's 180° rotation). It exists so the
 * example's client protocol and replan loop run in Node; it is not a physics simulation and its "task" (bring the
 * end effector within `successRadiusM` of a target) says nothing about policy quality.
 */

/** LIBERO's render resolution (openpi `LIBERO_ENV_RESOLUTION`). */
export const LIBERO_ENV_RESOLUTION = 256;

export interface SyntheticLiberoOptions {
  /** Seed of the start and target positions. Default 7 (openpi's `seed`). */
  seed?: number;
  /** Episode success when the end effector is this close to the target (m). Default 0.02. */
  successRadiusM?: number;
  /** Position change for an action of 1 on dims 0-2 (m per step). Default 0.01. */
  positionScaleM?: number;
  /** Rotation for an action of 1 on dims 3-5 (rad per step). Default 0.05. */
  rotationScaleRad?: number;
}

/** Raw simulator observation (robosuite names). Frames are HWC uint8 256×256×3, rows bottom-up. */
export interface SyntheticLiberoObs {
  agentview_image: Uint8Array;
  robot0_eye_in_hand_image: Uint8Array;
  /** (m) */
  robot0_eef_pos: Float64Array;
  /** Quaternion (x, y, z, w), robosuite order. */
  robot0_eef_quat: Float64Array;
  /** Finger joint positions (m): open 0.04 / -0.04, closed 0 / 0. */
  robot0_gripper_qpos: Float64Array;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SyntheticLibero {
  readonly #seed: number;
  readonly #radius: number;
  readonly #posScale: number;
  readonly #rotScale: number;
  #pos = new Float64Array(3);
  #rot = new Float64Array(3);
  #gripper = 0.04;
  #target = new Float64Array(3);
  #episode = 0;
  /** Every action passed to `step` since construction (all episodes). */
  readonly actions: number[][] = [];

  constructor(options: SyntheticLiberoOptions = {}) {
    this.#seed = options.seed ?? 7;
    this.#radius = options.successRadiusM ?? 0.02;
    this.#posScale = options.positionScaleM ?? 0.01;
    this.#rotScale = options.rotationScaleRad ?? 0.05;
  }

  /** New start and target (seeded by `seed` and the episode number). */
  reset(): SyntheticLiberoObs {
    const rand = mulberry32(this.#seed * 1000 + this.#episode++);
    this.#pos = Float64Array.from([0, 0, 0], () => (rand() - 0.5) * 0.3);
    this.#target = Float64Array.from([0, 0, 0], () => (rand() - 0.5) * 0.3);
    this.#rot = new Float64Array(3);
    this.#gripper = 0.04;
    return this.observe();
  }

  /** One 7-dim action: delta position (3), delta rotation (3, axis-angle), gripper (-1 open, +1 close). */
  step(action: readonly number[]): { obs: SyntheticLiberoObs; done: boolean } {
    if (action.length !== 7 || !action.every(Number.isFinite)) {
      throw new RangeError(`LIBERO action must be 7 finite numbers, got [${action.join(', ')}]`);
    }
    this.actions.push([...action]);
    const clip = (x: number) => Math.max(-1, Math.min(1, x));
    for (let i = 0; i < 3; i++) {
      this.#pos[i] = (this.#pos[i] ?? 0) + clip(action[i] ?? 0) * this.#posScale;
      this.#rot[i] = (this.#rot[i] ?? 0) + clip(action[i + 3] ?? 0) * this.#rotScale;
    }
    this.#gripper = (action[6] ?? 0) > 0 ? 0 : 0.04;
    const d = Math.hypot(...Array.from(this.#pos, (p, i) => p - (this.#target[i] ?? 0)));
    return { obs: this.observe(), done: d < this.#radius };
  }

  observe(): SyntheticLiberoObs {
    const angle = Math.hypot(...this.#rot);
    const axis = angle > 0 ? Array.from(this.#rot, (r) => r / angle) : [0, 0, 1];
    const s = Math.sin(angle / 2);
    return {
      agentview_image: this.#render(0),
      robot0_eye_in_hand_image: this.#render(1),
      robot0_eef_pos: this.#pos.slice(),
      robot0_eef_quat: Float64Array.from([...axis.map((a) => a * s), Math.cos(angle / 2)]),
      robot0_gripper_qpos: Float64Array.from([this.#gripper, -this.#gripper]),
    };
  }

  /** Bottom-up frame: red grows with the stored row index (so after openpi's 180° rotation red falls from the top
   *  row to the bottom one), a white square marks the end effector, a green one the target. */
  #render(camera: number): Uint8Array {
    const n = LIBERO_ENV_RESOLUTION;
    const img = new Uint8Array(n * n * 3);
    const px = (v: number) => Math.round(((v + 0.3) / 0.6) * (n - 1));
    const mark = (x: number, y: number, rgb: readonly number[]) => {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const r = Math.min(n - 1, Math.max(0, y + dy));
          const c = Math.min(n - 1, Math.max(0, x + dx));
          img.set(rgb, (r * n + c) * 3);
        }
      }
    };
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        const o = (r * n + c) * 3;
        img[o] = r;
        img[o + 1] = camera === 0 ? c >> 1 : 128;
        img[o + 2] = 64 * camera;
      }
    }
    mark(px(this.#target[0] ?? 0), px(this.#target[1] ?? 0), [0, 255, 0]);
    mark(px(this.#pos[0] ?? 0), px(this.#pos[1] ?? 0), [255, 255, 255]);
    return img;
  }
}
