/** Camera sources from a robot plugin's per-camera config: generated, V4L2 / testsrc through ffmpeg, ROS 2. */
import type { Clock } from '@openpi-edge/client';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { Ros2Node } from '../../ros2/surface.js';
import type { CameraSource } from './camera-source.js';
import { FfmpegCamera } from './ffmpeg-camera.js';
import { GeneratedCamera } from './generated-camera.js';
import { RosImageCamera } from './ros-image-camera.js';

/** Where one camera's frames come from. */
export type CameraSpec =
  /** Deterministic moving pattern (default for emulators). */
  | { kind: 'generated'; width?: number; height?: number; fps?: number }
  /** A UVC webcam through ffmpeg. */
  | { kind: 'v4l2'; device: string; width?: number; height?: number; fps?: number }
  /** ffmpeg's lavfi testsrc through the same MJPEG pipe. */
  | { kind: 'testsrc'; width?: number; height?: number; fps?: number }
  /** A ROS 2 image topic (a ROS 2 transport only; default topic: the robot's), raw or compressed. */
  | { kind: 'ros2'; topic?: string; transport?: 'raw' | 'compressed' }
  /** A source built by the caller. */
  | { kind: 'source'; source: CameraSource }
  /** No camera (only for cameras the robot does not require). */
  | { kind: 'none' };

export interface BuildCameraContext {
  readonly clock: Clock;
  /** The robot's ROS 2 node, for `ros2` cameras. */
  readonly node?: Ros2Node | undefined;
  /** The default topic of a `ros2` camera without one. */
  readonly defaultTopic: (camera: string) => string;
}

/** The (not yet started) source of `spec`, or undefined for `none`. BAD_ARGUMENT for ros2 without a node. */
export function buildCamera(
  name: string,
  spec: CameraSpec,
  ctx: BuildCameraContext,
): CameraSource | undefined {
  const { clock } = ctx;
  switch (spec.kind) {
    case 'generated':
      return new GeneratedCamera({ name, clock, ...spec });
    case 'v4l2':
      return new FfmpegCamera({ name, clock, input: spec });
    case 'testsrc':
      return new FfmpegCamera({ name, clock, input: spec });
    case 'ros2':
      if (ctx.node === undefined) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `camera ${name}: ros2 cameras need a ROS 2 transport`, {
          camera: name,
        });
      }
      return new RosImageCamera({
        name,
        node: ctx.node,
        clock,
        topic: spec.topic ?? ctx.defaultTopic(name),
        ...(spec.transport === undefined ? {} : { transport: spec.transport }),
      });
    case 'source':
      return spec.source;
    case 'none':
      return undefined;
  }
}
