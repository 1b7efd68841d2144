/**
 * The `ur5` section of the agent's config file (and the flags of `start --robot ur5`): transport, controller
 * address and ports, servo stream, gripper, cameras, home pose. Every key, its default and unit: docs/agent.md
 * "`edge-agent start` options" (design: docs/ur5.md).
 */
import { z } from 'zod';
import { CameraConfigSchema, cameraSize } from '../camera-config.js';

/** openpi's UR5 camera names, in observation order. */
export const UR5_CAMERAS = ['base_rgb', 'wrist_rgb'] as const;
export type Ur5Camera = (typeof UR5_CAMERAS)[number];

/** Home pose of the reset (rad, shoulder_pan … wrist_3): the classic UR "up" pose with the tool pointing down. */
export const UR5_HOME_POSE: readonly number[] = [0, -1.57, 1.57, -1.57, -1.57, 0];

const positiveInt = z.number().int().positive();
const port = z.number().int().min(0).max(65535);
const pose = z.array(z.number()).length(6);

export const Ur5ConfigSchema = z
  .object({
    /**
     * `emulator` (default): the UR controller emulator on loopback, driven through the same RTDE / dashboard /
     * script-port code as a real arm; `rtde`: a real controller at `host`; `ros2`: ur_robot_driver's interface.
     */
    transport: z.enum(['emulator', 'rtde', 'ros2']).optional(),
    /** Controller address (rtde). */
    host: z.string().min(1).optional(),
    /** Controller ports. Defaults RTDE 30004, dashboard 29999, script 30002. */
    ports: z
      .object({ rtde: port.optional(), dashboard: port.optional(), script: port.optional() })
      .strict()
      .optional(),
    /** Connect and read only: no power on, brake release, program or motion. */
    dryRun: z.boolean().optional(),
    /** Power on and release the brakes at start when needed. Default true. */
    powerOn: z.boolean().optional(),
    servo: z
      .object({
        /** Highest servo rate (Hz). Default 500 (CB3 controllers stream 125). */
        maxHz: z.number().positive().max(500).optional(),
        /** servoj lookahead (s), 0.03–0.2. Default 0.1. */
        lookaheadS: z.number().min(0.03).max(0.2).optional(),
        /** servoj gain, 100–2000. Default 300. */
        gain: z.number().min(100).max(2000).optional(),
        /** The servo program's watchdog (ms): no fresh target → it stops the arm. Default 100. */
        watchdogMs: z.number().min(4).max(1000).optional(),
      })
      .strict()
      .optional(),
    /** The emulator's controller. */
    emulator: z
      .object({
        series: z.enum(['e-series', 'cb3']).optional(),
        /** Start pose (6 rad). Default the home pose. */
        initial: pose.optional(),
        /** Joint speed limit of the motion model (rad/s). Default π. */
        maxJointSpeed: z.number().positive().optional(),
      })
      .strict()
      .optional(),
    /** `robotiq` (2F-85 over Modbus RTU; default) or `none`. */
    gripper: z.enum(['robotiq', 'none']).optional(),
    robotiq: z
      .object({
        /** Serial device (rtde, ros2). Default `/dev/ttyUSB0`; the emulator makes a pty. */
        port: z.string().min(1).optional(),
        baudRate: positiveInt.optional(),
        slaveId: z.number().int().min(1).max(247).optional(),
        /** Speed and force bytes (0–255). Defaults 255 / 150. */
        speed: z.number().int().min(0).max(255).optional(),
        force: z.number().int().min(0).max(255).optional(),
      })
      .strict()
      .optional(),
    /** Per camera (`base_rgb`, `wrist_rgb`): generated (emulator only), v4l2, testsrc, ros2, none. */
    cameras: z.partialRecord(z.enum(UR5_CAMERAS), CameraConfigSchema).optional(),
    /** Size and rate of generated (emulator) cameras. Default 640 x 480 at 30 Hz. */
    generatedCameras: z.object(cameraSize).strict().optional(),
    /** Home pose of the reset (6 rad, inside the limits). */
    homePose: pose.optional(),
    /** Shortest duration of the home move (ms). Default 2000. */
    homeMs: z.number().int().nonnegative().optional(),
  })
  .strict();

export type Ur5Config = z.output<typeof Ur5ConfigSchema>;

export const UR5_CONFIG_DEFAULTS = {
  transport: 'emulator',
  gripper: 'robotiq',
  homeMs: 2000,
  generatedCameras: { width: 640, height: 480, fps: 30 },
  robotiqPort: '/dev/ttyUSB0',
} as const;
