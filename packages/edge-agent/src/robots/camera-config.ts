/**
 * Per-camera sources in a robot's config section, shared by the built-in plugins: the schema of one camera's
 * source, the `--camera name=spec` flag syntax, and the rules that pick each camera's source for a transport
 * (generated frames only with an emulator, ROS 2 topics only with a ROS 2 transport, a required camera never
 * `none`, no silent default where the transport has none).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { z } from 'zod';
import { defined } from './merge-section.js';

const positiveInt = z.number().int().positive();
export const cameraSize = {
  width: positiveInt.optional(),
  height: positiveInt.optional(),
  fps: z.number().positive().optional(),
};

/** Where one camera's frames come from. */
export const CameraConfigSchema = z.discriminatedUnion('kind', [
  /** In-process moving test pattern: the emulator's cameras (refused with a real transport). */
  z.object({ kind: z.literal('generated'), ...cameraSize }).strict(),
  /** A UVC webcam (V4L2, MJPEG) through ffmpeg, e.g. `/dev/video0`. */
  z.object({ kind: z.literal('v4l2'), device: z.string().min(1), ...cameraSize }).strict(),
  /** ffmpeg's lavfi test source through the same MJPEG pipe as a webcam (bring-up and tests; never a default). */
  z.object({ kind: z.literal('testsrc'), ...cameraSize }).strict(),
  /** A ROS 2 image topic (default: the robot's topic for the camera), raw or compressed. */
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
export type CameraConfig = z.output<typeof CameraConfigSchema>;

/**
 * Parses the source part of `--camera name=spec`: `/dev/videoN` or `v4l2:/dev/videoN`, `ros2[:topic]`, `testsrc`,
 * `generated`, `none`. Throws an Error naming the flag value otherwise.
 */
export function parseCameraSource(flag: string, spec: string): CameraConfig {
  if (spec === 'none' || spec === 'generated' || spec === 'testsrc') return { kind: spec };
  if (spec === 'ros2') return { kind: 'ros2' };
  if (spec.startsWith('ros2:')) return { kind: 'ros2', topic: spec.slice(5) };
  if (spec.startsWith('v4l2:')) return { kind: 'v4l2', device: spec.slice(5) };
  if (spec.startsWith('/dev/')) return { kind: 'v4l2', device: spec };
  throw new Error(
    `--camera ${flag}: unknown source '${spec}' (use /dev/videoN, v4l2:<dev>, ros2[:topic], testsrc, none)`,
  );
}

/** Parses `--camera name=spec` for a robot with cameras `names`. */
export function parseCameraFlag<N extends string>(value: string, names: readonly N[]): [N, CameraConfig] {
  const eq = value.indexOf('=');
  const name = value.slice(0, eq) as N;
  if (eq < 0 || !names.includes(name)) {
    throw new Error(`--camera ${value}: expected <name>=<source> with name one of ${names.join(', ')}`);
  }
  return [name, parseCameraSource(value, value.slice(eq + 1))];
}

/**
 * The values of a repeatable `--camera name=spec` flag (absent, one string or several) as a partial `cameras`
 * section; BAD_ARGUMENT naming the flag value on a bad one.
 */
export function cameraFlags<N extends string>(
  value: string | boolean | readonly string[] | undefined,
  names: readonly N[],
): Partial<Record<N, CameraConfig>> {
  const out: Partial<Record<N, CameraConfig>> = {};
  for (const item of Array.isArray(value) ? value : typeof value === 'string' ? [value] : []) {
    try {
      const [name, spec] = parseCameraFlag(item as string, names);
      out[name] = spec;
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', (e as Error).message, { option: 'camera', value: item });
    }
  }
  return out;
}

export interface ResolveCamerasOptions<N extends string> {
  /** For messages: `ALOHA`, `UR5`. */
  readonly robot: string;
  readonly names: readonly N[];
  readonly given: Partial<Record<N, CameraConfig>> | undefined;
  readonly transport: string;
  /** Whether `transport` is the robot's emulator / its ROS 2 transport. */
  readonly emulated: boolean;
  readonly ros2: boolean;
  /** Cameras the watchdog requires. */
  readonly required: readonly string[];
  /** Size and rate of generated cameras. */
  readonly generated: { width: number; height: number; fps: number };
}

/**
 * Each camera's source: the given one, else generated (emulator), the robot's topic (ROS 2), `none` for an
 * optional camera; CONFIG_MISMATCH naming the camera for a required camera without a source, generated frames on a
 * real transport, a required camera set to none, or a ROS 2 camera without ROS 2.
 */
export function resolveCameras<N extends string>(o: ResolveCamerasOptions<N>): Record<N, CameraConfig> {
  const out = {} as Record<N, CameraConfig>;
  for (const name of o.names) {
    const isRequired = o.required.includes(name);
    let spec: CameraConfig | undefined = o.given?.[name];
    if (spec === undefined) {
      if (o.emulated) spec = { kind: 'generated', ...o.generated };
      else if (o.ros2) spec = { kind: 'ros2' };
      else if (!isRequired) spec = { kind: 'none' };
    }
    const fail = (why: string, extra: Record<string, unknown> = {}): OpenpiEdgeError =>
      new OpenpiEdgeError(
        'CONFIG_MISMATCH',
        `${o.robot} camera ${name}${why.startsWith('is ') ? ' ' : ': '}${why}`,
        {
          what: 'camera',
          camera: name,
          transport: o.transport,
          ...extra,
        },
      );
    if (spec === undefined) {
      throw fail(
        `the ${o.transport} transport has no default camera; give its source, e.g. ` +
          `--camera ${name}=/dev/video0 (a V4L2 webcam), or --camera ${name}=testsrc for a bench test`,
      );
    }
    if (spec.kind === 'generated' && !o.emulated) {
      throw fail(
        `generated frames belong to the emulator, not the ${o.transport} transport; configure a V4L2 device or a ROS 2 topic`,
        { kind: 'generated' },
      );
    }
    if (spec.kind === 'generated') spec = { ...spec, ...o.generated, ...defined(spec) };
    if (spec.kind === 'none' && isRequired) {
      throw fail('is required by the watchdog (safety.watchdog.requiredCameras) and cannot be none', {
        required: o.required,
      });
    }
    if (spec.kind === 'ros2' && !o.ros2) {
      throw fail(`ROS 2 image topics need the ros2 transport (got ${o.transport})`);
    }
    out[name] = spec;
  }
  return out;
}
