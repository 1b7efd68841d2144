/**
 * UR5 / UR5e forward kinematics (Universal Robots' standard DH parameters) for the emulator's actual_TCP_pose and
 * target_TCP_pose outputs: base frame → tool flange, no TCP offset. Units: metres, radians; the pose is
 * [x, y, z, rx, ry, rz] with the orientation as a rotation vector (axis × angle), as URScript and RTDE report it.
 */

export interface DhParameters {
  /** Link offsets along z (m). */
  readonly d: readonly number[];
  /** Link lengths along x (m). */
  readonly a: readonly number[];
  /** Link twists (rad). */
  readonly alpha: readonly number[];
}

const HALF_PI = Math.PI / 2;

/** UR5 (CB3). */
export const UR5_DH: DhParameters = {
  d: [0.089159, 0, 0, 0.10915, 0.09465, 0.0823],
  a: [0, -0.425, -0.39225, 0, 0, 0],
  alpha: [HALF_PI, 0, 0, HALF_PI, -HALF_PI, 0],
};

/** UR5e (e-Series). */
export const UR5E_DH: DhParameters = {
  d: [0.1625, 0, 0, 0.1333, 0.0997, 0.0996],
  a: [0, -0.425, -0.3922, 0, 0, 0],
  alpha: [HALF_PI, 0, 0, HALF_PI, -HALF_PI, 0],
};

type Mat4 = number[]; // row-major 4×4

function mul(x: Mat4, y: Mat4): Mat4 {
  const out = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += (x[r * 4 + k] as number) * (y[k * 4 + c] as number);
      out[r * 4 + c] = s;
    }
  }
  return out;
}

/** Rz(theta) · Tz(d) · Tx(a) · Rx(alpha). */
function dhLink(theta: number, d: number, a: number, alpha: number): Mat4 {
  const ct = Math.cos(theta);
  const st = Math.sin(theta);
  const ca = Math.cos(alpha);
  const sa = Math.sin(alpha);
  return [ct, -st * ca, st * sa, a * ct, st, ct * ca, -ct * sa, a * st, 0, sa, ca, d, 0, 0, 0, 1];
}

/** Rotation vector of a rotation matrix given row-major as the upper-left 3×3 of `m`. */
function rotationVector(m: Mat4): [number, number, number] {
  const r00 = m[0] as number;
  const r01 = m[1] as number;
  const r02 = m[2] as number;
  const r10 = m[4] as number;
  const r11 = m[5] as number;
  const r12 = m[6] as number;
  const r20 = m[8] as number;
  const r21 = m[9] as number;
  const r22 = m[10] as number;
  const cos = Math.min(1, Math.max(-1, (r00 + r11 + r22 - 1) / 2));
  const angle = Math.acos(cos);
  if (angle < 1e-9) return [0, 0, 0];
  if (Math.PI - angle < 1e-6) {
    // Near π the antisymmetric part vanishes: take the axis from the diagonal (R = 2·n·nᵀ − I).
    const x = Math.sqrt(Math.max(0, (r00 + 1) / 2));
    const y = Math.sqrt(Math.max(0, (r11 + 1) / 2));
    const z = Math.sqrt(Math.max(0, (r22 + 1) / 2));
    const sy = r01 + r10 >= 0 ? 1 : -1;
    const sz = r02 + r20 >= 0 ? 1 : -1;
    return [angle * x, angle * y * (x > 0 ? sy : 1), angle * z * (x > 0 ? sz : r12 + r21 >= 0 ? 1 : -1)];
  }
  const k = angle / (2 * Math.sin(angle));
  return [k * (r21 - r12), k * (r02 - r20), k * (r10 - r01)];
}

/** Tool flange pose [x, y, z, rx, ry, rz] of joint angles `q` (6 rad). */
export function forwardKinematics(q: readonly number[], dh: DhParameters): number[] {
  let t: Mat4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  for (let i = 0; i < 6; i++) {
    t = mul(t, dhLink(q[i] ?? 0, dh.d[i] ?? 0, dh.a[i] ?? 0, dh.alpha[i] ?? 0));
  }
  return [t[3] as number, t[7] as number, t[11] as number, ...rotationVector(t)];
}
