/**
 * The `aloha` section of the agent's config file (and the ALOHA flags of `start --robot aloha`): transport, serial
 * ports, cameras, gripper generation. Every key, its default and unit: docs/agent.md "Config file".
 */
import { z } from 'zod';
import { ALOHA_CAMERA_NAMES, type AlohaCameraName } from './constants.js';

const positiveInt = z.number().int().positive();
const size = {
  width: positiveInt.optional(),
  height: positiveInt.optional(),
  fps: z.number().positive().optional(),
};

/** Where one camera's frames come from. */
export const AlohaCameraConfigSchema = z.discriminatedUnion('kind', [
  /** In-process moving test pattern: the emulator's cameras (refused with a real transport). */
  z.object({ kind: z.literal('generated'), ...size }).strict(),
  /** A UVC webcam (V4L2, MJPEG) through ffmpeg, e.g. `/dev/video0`. */
  z.object({ kind: z.literal('v4l2'), device: z.string().min(1), ...size }).strict(),
  /** ffmpeg's lavfi test source through the same MJPEG pipe as a webcam (bring-up and tests; never a default). */
  z.object({ kind: z.literal('testsrc'), ...size }).strict(),
  /** A ROS 2 image topic (default `/<cam>/camera/color/image_rect_raw`), raw or compressed. */
  z
    .object({
      kind: z.literal('ros2'),
      topic: z.string().min(1).optional(),
      transport: z.enum(['raw', 'compressed']).optional(),
    })
    .strict(),
  /** No camera: allowed only for cameras the watchdog does not require (the policy sees a masked zero image). */
  z.object({ kind: z.literal('none') }).strict(),
]);
export type AlohaCameraConfig = z.output<typeof AlohaCameraConfigSchema>;

export const AlohaConfigSchema = z
  .object({
    /** How the arms are reached. Default `emulator`. */
    transport: z.enum(['emulator', 'serial', 'ros2']).optional(),
    serial: z
      .object({
        /** Left follower port. Default `/dev/ttyDXL_puppet_left` (openpi's udev name). */
        portLeft: z.string().min(1).optional(),
        /** Right follower port. Default `/dev/ttyDXL_puppet_right`. */
        portRight: z.string().min(1).optional(),
        /** Line rate (bit/s). Default 1_000_000 (Interbotix / ALOHA). */
        baudRate: positiveInt.optional(),
      })
      .strict()
      .optional(),
    /**
     * Per camera (`cam_high`, `cam_low`, `cam_left_wrist`, `cam_right_wrist`). Defaults: `generated` for the
     * emulator, the ALOHA image topics for `ros2`; `serial` has none: configure `v4l2` devices (or ROS 2 topics).
     * `cam_low` defaults to `none` with `serial` (openpi does not use it).
     */
    cameras: z.partialRecord(z.enum(ALOHA_CAMERA_NAMES), AlohaCameraConfigSchema).optional(),
    /** Size and rate of generated (emulator) cameras. Default 640 x 480 at 30 Hz (ALOHA's RealSense cameras). */
    generatedCameras: z.object(size).strict().optional(),
    /** Gripper constants: `openpi` (PUPPET_*) or `trossen` (FOLLOWER_*). Default by transport (ros2 follower_*: trossen). */
    gripper: z.enum(['openpi', 'trossen']).optional(),
  })
  .strict();

export type AlohaConfig = z.output<typeof AlohaConfigSchema>;

export const ALOHA_CONFIG_DEFAULTS = {
  transport: 'emulator',
  serial: { portLeft: '/dev/ttyDXL_puppet_left', portRight: '/dev/ttyDXL_puppet_right', baudRate: 1_000_000 },
  generatedCameras: { width: 640, height: 480, fps: 30 },
} as const;

/** Parses `--camera name=spec`: `/dev/videoN` or `v4l2:/dev/videoN`, `ros2[:topic]`, `testsrc`, `generated`, `none`. */
export function parseCameraFlag(value: string): [AlohaCameraName, AlohaCameraConfig] {
  const eq = value.indexOf('=');
  const name = value.slice(0, eq) as AlohaCameraName;
  const spec = value.slice(eq + 1);
  if (eq < 0 || !(ALOHA_CAMERA_NAMES as readonly string[]).includes(name)) {
    throw new Error(
      `--camera ${value}: expected <name>=<source> with name one of ${ALOHA_CAMERA_NAMES.join(', ')}`,
    );
  }
  if (spec === 'none' || spec === 'generated' || spec === 'testsrc') return [name, { kind: spec }];
  if (spec === 'ros2') return [name, { kind: 'ros2' }];
  if (spec.startsWith('ros2:')) return [name, { kind: 'ros2', topic: spec.slice(5) }];
  if (spec.startsWith('v4l2:')) return [name, { kind: 'v4l2', device: spec.slice(5) }];
  if (spec.startsWith('/dev/')) return [name, { kind: 'v4l2', device: spec }];
  throw new Error(
    `--camera ${value}: unknown source '${spec}' (use /dev/videoN, v4l2:<dev>, ros2[:topic], testsrc, none)`,
  );
}
