/**
 * Differences between two sets of joint vectors (a policy's actions against the recorded ones, the emulator's
 * measured joints against the recorded ones), per joint and overall. Values in the joints' units (rad; grippers
 * normalised). A pair where either value is not finite is skipped and counted (`skipped`).
 */

/** Per joint: mean and largest absolute difference, root mean square; NaN with no values. */
export interface JointDifference {
  readonly name: string;
  readonly n: number;
  readonly meanAbs: number;
  readonly maxAbs: number;
  readonly rms: number;
}

export interface DifferenceSummary {
  /** Vectors (rows) added. */
  readonly rows: number;
  /** Value pairs compared, and skipped (a non-finite value on either side). */
  readonly values: number;
  readonly skipped: number;
  readonly joints: readonly JointDifference[];
  /** Over every compared value. NaN with none. */
  readonly meanAbs: number;
  readonly maxAbs: number;
  readonly rms: number;
}

export class DifferenceStats {
  readonly joints: readonly string[];
  readonly #n: Float64Array;
  readonly #sumAbs: Float64Array;
  readonly #sumSq: Float64Array;
  readonly #max: Float64Array;
  #rows = 0;
  #skipped = 0;

  constructor(joints: readonly string[]) {
    this.joints = joints;
    const d = joints.length;
    this.#n = new Float64Array(d);
    this.#sumAbs = new Float64Array(d);
    this.#sumSq = new Float64Array(d);
    this.#max = new Float64Array(d);
  }

  /** Adds `a[offA + j] - b[offB + j]` for every joint j. */
  add(a: ArrayLike<number>, b: ArrayLike<number>, offA = 0, offB = 0): void {
    this.#rows += 1;
    for (let j = 0; j < this.joints.length; j++) {
      const x = a[offA + j];
      const y = b[offB + j];
      if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) {
        this.#skipped += 1;
        continue;
      }
      const d = Math.abs(x - y);
      this.#n[j] = (this.#n[j] ?? 0) + 1;
      this.#sumAbs[j] = (this.#sumAbs[j] ?? 0) + d;
      this.#sumSq[j] = (this.#sumSq[j] ?? 0) + d * d;
      if (d > (this.#max[j] ?? 0)) this.#max[j] = d;
    }
  }

  summary(): DifferenceSummary {
    let n = 0;
    let sumAbs = 0;
    let sumSq = 0;
    let max = 0;
    const joints = this.joints.map((name, j): JointDifference => {
      const nj = this.#n[j] ?? 0;
      const aj = this.#sumAbs[j] ?? 0;
      const sj = this.#sumSq[j] ?? 0;
      const mj = this.#max[j] ?? 0;
      n += nj;
      sumAbs += aj;
      sumSq += sj;
      if (mj > max) max = mj;
      return nj === 0
        ? { name, n: 0, meanAbs: Number.NaN, maxAbs: Number.NaN, rms: Number.NaN }
        : { name, n: nj, meanAbs: aj / nj, maxAbs: mj, rms: Math.sqrt(sj / nj) };
    });
    return {
      rows: this.#rows,
      values: n,
      skipped: this.#skipped,
      joints,
      meanAbs: n === 0 ? Number.NaN : sumAbs / n,
      maxAbs: n === 0 ? Number.NaN : max,
      rms: n === 0 ? Number.NaN : Math.sqrt(sumSq / n),
    };
  }
}

/** `x` with 3 significant decimals for reports; `-` for NaN. */
export function fmt(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** A per-joint table: `name  mean  max` lines (indented), for the CLI's summary. */
export function formatJointTable(s: DifferenceSummary, indent = '    '): string[] {
  const w = Math.max(5, ...s.joints.map((j) => j.name.length));
  return [
    `${indent}${'joint'.padEnd(w)}  mean |d|    max |d|`,
    ...s.joints.map(
      (j) => `${indent}${j.name.padEnd(w)}  ${fmt(j.meanAbs).padStart(9)}  ${fmt(j.maxAbs).padStart(9)}`,
    ),
  ];
}
