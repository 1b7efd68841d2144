/**
 * The policy observation of a recorded inference, built the way the robot's client builds it on the robot
 * (robots/<robot>/plugin.ts `read` / `observation`, agent/images-on-demand.ts `pickFrames`): the state in the
 * policy's layout from the recorded measured joints, the frames converted with openpi's resize-with-pad to the
 * robot's image size and layout (raw-frames.ts `withFrameImages`), and the prompt.
 *
 * Recorded states are the gate's measured joints (action units). For ALOHA the policy's state differs only in the
 * grippers: openpi's client sends the finger position normalised with the POSITION constants, the gate measures the
 * motor angle normalised with the JOINT constants. The conversion here inverts the latter and applies the ViperX
 * swing-arm geometry, exact for the emulator and the Dynamixel transport with the default `openpi` gripper profile
 * (a `trossen` run's state differs slightly: the profile is not in the recording).
 */
import { ndarray, type Obs } from '@openpi-edge/client';
import { withFrameImages } from '../inference/raw-frames.js';
import type { CameraFrame } from '../io/cameras/camera-source.js';
import { ALOHA_GRIPPER_PROFILES } from '../robots/aloha/constants.js';
import {
  gripperAngleToFinger,
  normalizeGripperPosition,
  unnormalizeGripperJoint,
} from '../robots/dynamixel/viperx.js';
import type { JointValues } from './recorded-episode.js';

/** How a robot's observation looks. */
export interface ReplayLayout {
  /** Images as a record under this key, or each at the top level (null). */
  readonly imagesKey: string | null;
  readonly imageFormat: 'chw' | 'hwc';
  readonly height: number;
  readonly width: number;
  /** The observation without images and prompt, from measured joints (action order and units). */
  state(measured: JointValues): Obs;
}

const f32 = (d: Float32Array): Obs[string] => ndarray('float32', [d.length], d);

/** ALOHA (openpi aloha_real): `state` float32 [14] with POSITION-normalised grippers, images CHW under `images`. */
const ALOHA: ReplayLayout = {
  imagesKey: 'images',
  imageFormat: 'chw',
  height: 224,
  width: 224,
  state(measured) {
    const { constants, geometry } = ALOHA_GRIPPER_PROFILES.openpi;
    const s = Float32Array.from(measured);
    for (const g of [6, 13]) {
      const u = measured[g];
      if (u === undefined) continue;
      s[g] = normalizeGripperPosition(
        gripperAngleToFinger(unnormalizeGripperJoint(u, constants), geometry),
        constants,
      );
    }
    return { state: f32(s) };
  },
};

/** UR5 (openpi's UR5 layout): `joints` [6], `gripper` [1], images HWC at the top level. */
const UR5: ReplayLayout = {
  imagesKey: null,
  imageFormat: 'hwc',
  height: 224,
  width: 224,
  state(measured) {
    return {
      joints: f32(Float32Array.from(measured.subarray(0, 6))),
      gripper: f32(Float32Array.from(measured.subarray(6, 7))),
    };
  },
};

/** Any other robot: `state` = the measured joints, images CHW under `images` (the plugin contract's default). */
const GENERIC: ReplayLayout = {
  imagesKey: 'images',
  imageFormat: 'chw',
  height: 224,
  width: 224,
  state: (measured) => ({ state: f32(Float32Array.from(measured)) }),
};

/** The observation layout of robot `robot` (a plugin name; null or unknown: the generic layout). */
export function replayLayout(robot: string | null): ReplayLayout {
  return robot === 'aloha' ? ALOHA : robot === 'ur5' ? UR5 : GENERIC;
}

/** The full observation: state part, images from `frames` (cameras in `cameras` order), `prompt` when given. */
export async function buildObservation(
  layout: ReplayLayout,
  measured: JointValues,
  frames: Readonly<Record<string, CameraFrame>>,
  cameras: readonly string[],
  prompt: string | null,
): Promise<Obs> {
  const ordered: Record<string, CameraFrame> = {};
  for (const c of cameras) {
    const f = frames[c];
    if (f !== undefined) ordered[c] = f;
  }
  for (const [c, f] of Object.entries(frames)) if (ordered[c] === undefined) ordered[c] = f;
  const obs = await withFrameImages(layout.state(measured), {
    frames: ordered,
    height: layout.height,
    width: layout.width,
    format: layout.imageFormat,
    key: layout.imagesKey,
  });
  if (prompt !== null) obs.prompt = prompt;
  return obs;
}
