/**
 * The `aloha` section of the agent's config file (and the ALOHA flags of `start --robot aloha`): transport, serial
 * ports, cameras, gripper generation. Every key, its default and unit: docs/agent.md "Config file".
 */
import { z } from 'zod';
import {
  type CameraConfig,
  CameraConfigSchema,
  cameraSize,
  parseCameraFlag as parseSharedCameraFlag,
} from '../camera-config.js';
import { ALOHA_CAMERA_NAMES, type AlohaCameraName } from './constants.js';

const positiveInt = z.number().int().positive();

/** Where one camera's frames come from (robots/camera-config.ts). */
export const AlohaCameraConfigSchema = CameraConfigSchema;
export type AlohaCameraConfig = CameraConfig;

export const AlohaConfigSchema = z
  .object({
    /** How the arms are reached. Default `emulator`. `sim`: gym-aloha in MuJoCo through a bridge process
     *  (sim-transport.ts; needs `bash scripts/sim-env.sh`). */
    transport: z.enum(['emulator', 'serial', 'ros2', 'sim']).optional(),
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
     * `cam_low` defaults to `none` with `serial` (openpi does not use it). `sim`: `generated` means rendered by the
     * simulator (cam_high, both wrists; `cam_low` defaults to `none` there, `generated` renders gym-aloha's `angle`
     * camera for it).
     */
    cameras: z.partialRecord(z.enum(ALOHA_CAMERA_NAMES), AlohaCameraConfigSchema).optional(),
    /** Size and rate of generated (emulator) cameras, and of the cameras the `sim` transport renders (the rate is
     *  a cap there). Default 640 x 480 at 30 Hz (ALOHA's RealSense cameras). */
    generatedCameras: z.object(cameraSize).strict().optional(),
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
  return parseSharedCameraFlag(value, ALOHA_CAMERA_NAMES);
}
