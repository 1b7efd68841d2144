/**
 * One call from configuration to a started ALOHA environment: picks the arm transport (`emulator`, `serial`,
 * `ros2`, `sim`) and the camera sources, wires the clock through, runs the follower setup.
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { buildCamera, type CameraSpec } from '../../io/cameras/build-camera.js';
import type { CameraSource } from '../../io/cameras/camera-source.js';
import { createRclnodejsContext } from '../../ros2/rclnodejs-adapter.js';
import type { Ros2Context, Ros2Node } from '../../ros2/surface.js';
import type { DynamixelBusOptions } from '../dynamixel/bus.js';
import type { ViperXBusOptions } from '../dynamixel/emulator/viperx-bus.js';
import {
  ALOHA_CAMERA_NAMES,
  ALOHA_GRIPPER_PROFILES,
  ALOHA_NAMESPACES,
  type AlohaCameraName,
  type AlohaGeneration,
  alohaImageTopic,
} from './constants.js';
import { createEmulatedAlohaArms, openSerialAlohaArms } from './dynamixel-transport.js';
import { AlohaEnvironment, type AlohaEnvironmentOptions } from './environment.js';
import { Ros2AlohaArms } from './ros2-transport.js';
import { SimAlohaArms, type SimAlohaOptions } from './sim-transport.js';
import type { AlohaArmsTransport } from './transport.js';

/** Where one camera's frames come from (io/cameras/build-camera.ts). */
export type AlohaCameraSpec = CameraSpec;

export interface CreateAlohaEnvironmentOptions
  extends Omit<AlohaEnvironmentOptions, 'transport' | 'cameras' | 'gripper'> {
  transport: 'emulator' | 'serial' | 'ros2' | 'sim';
  /** Gripper generation. Default `'openpi'` for emulator/serial, `'trossen'` for ros2 with follower namespaces. */
  gripper?: AlohaGeneration;
  /** Per camera; unspecified ones get the transport's default (generated / ros2 topic; serial: none; sim: rendered
   *  by the bridge, `cam_low` none). With `sim`, `generated` means rendered by the bridge at that size. */
  cameras?: Partial<Record<AlohaCameraName, AlohaCameraSpec>>;
  clock?: Clock;
  /** serial: follower ports. Default `/dev/ttyDXL_puppet_left` / `_right`. */
  ports?: { left: string; right: string };
  /** serial: line rate (bit/s). Default 1_000_000. */
  baudRate?: number;
  /** serial / emulator: driver options. */
  bus?: DynamixelBusOptions;
  /** emulator: initial pose etc. Default: arms at the reset pose, grippers at 0 rad. */
  emulator?: ViperXBusOptions;
  /** ros2: a context to use (e.g. a test fake). Default: rclnodejs (ROS2_UNAVAILABLE when ROS 2 is not sourced). */
  ros2?: Ros2Context;
  /** ros2: follower namespaces. Default `follower_left` / `follower_right`. */
  namespaces?: { left: string; right: string };
  /** ros2: node name. Default `openpi_edge_aloha`. */
  nodeName?: string;
  /** ros2: service / first-state timeout (ms). Default 5000. */
  timeoutMs?: number;
  /** sim: bridge options (interpreter, task, seed, render quality, idle stepping, control rate). The cameras to
   *  render follow from `cameras`; the gripper geometry from `gripper`. */
  sim?: Omit<SimAlohaOptions, 'cameras' | 'clock' | 'gripper'>;
}

export interface CreatedAloha {
  environment: AlohaEnvironment;
  transport: AlohaArmsTransport;
  /** The ROS 2 node (ros2 transport only). */
  node?: Ros2Node;
  /** Closes environment, cameras, transport, and the node/context it created. */
  close(): Promise<void>;
}

/** Builds the transport and cameras, runs the follower setup, starts the cameras. Call `reset()` next. */
export async function createAlohaEnvironment(options: CreateAlohaEnvironmentOptions): Promise<CreatedAloha> {
  const clock = options.clock ?? realClock;
  let transport: AlohaArmsTransport;
  let node: Ros2Node | undefined;
  let ownedContext: Ros2Context | undefined;
  let gripper: AlohaGeneration = options.gripper ?? 'openpi';
  let fallback: AlohaCameraSpec = { kind: 'none' };
  let sim: SimAlohaArms | undefined;
  switch (options.transport) {
    case 'emulator':
      transport = createEmulatedAlohaArms({
        clock,
        gripper: ALOHA_GRIPPER_PROFILES[gripper],
        emulator: { initialArm: options.resetPose ?? [0, -0.96, 1.16, 0, -0.3, 0], ...options.emulator },
        ...(options.bus === undefined ? {} : { bus: options.bus }),
      });
      fallback = { kind: 'generated' };
      break;
    case 'serial':
      transport = await openSerialAlohaArms({
        clock,
        gripper: ALOHA_GRIPPER_PROFILES[gripper],
        ...(options.ports === undefined ? {} : { ports: options.ports }),
        ...(options.baudRate === undefined ? {} : { baudRate: options.baudRate }),
        ...(options.bus === undefined ? {} : { bus: options.bus }),
      });
      break;
    case 'ros2': {
      const namespaces = options.namespaces ?? ALOHA_NAMESPACES.trossen;
      if (options.gripper === undefined) gripper = namespaces.left.includes('puppet') ? 'openpi' : 'trossen';
      if (options.ros2 === undefined) ownedContext = await createRclnodejsContext();
      const context = options.ros2 ?? (ownedContext as Ros2Context);
      node = context.createNode(options.nodeName ?? 'openpi_edge_aloha');
      transport = new Ros2AlohaArms({
        node,
        clock,
        namespaces,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
      fallback = { kind: 'ros2' };
      break;
    }
    case 'sim': {
      // Every camera whose spec is `generated` (the default, but cam_low) is rendered by the bridge.
      const specOf = (n: AlohaCameraName): AlohaCameraSpec =>
        options.cameras?.[n] ?? (n === 'cam_low' ? { kind: 'none' } : { kind: 'generated' });
      const rendered = ALOHA_CAMERA_NAMES.flatMap((n) => {
        const spec = specOf(n);
        return spec.kind === 'generated' ? [{ n, spec }] : [];
      });
      const fps = Math.max(0, ...rendered.map(({ spec }) => spec.fps ?? 0));
      sim = new SimAlohaArms({
        ...options.sim,
        clock,
        gripper: ALOHA_GRIPPER_PROFILES[gripper],
        cameras: rendered.map(({ n, spec }) => ({
          name: n,
          width: spec.width ?? 640,
          height: spec.height ?? 480,
        })),
        ...(fps > 0 ? { fps } : {}),
      });
      transport = sim;
      break;
    }
    default:
      throw new OpenpiEdgeError('BAD_ARGUMENT', `unknown ALOHA transport ${String(options.transport)}`, {
        transport: options.transport,
        known: ['emulator', 'serial', 'ros2', 'sim'],
      });
  }
  const cameras: Partial<Record<AlohaCameraName, CameraSource>> = {};
  for (const name of ALOHA_CAMERA_NAMES) {
    let spec = options.cameras?.[name] ?? fallback;
    if (sim !== undefined) {
      const rendered = sim.cameras[name];
      spec =
        rendered !== undefined
          ? { kind: 'source', source: rendered }
          : (options.cameras?.[name] ?? { kind: 'none' });
    }
    const source = buildCamera(name, spec, {
      clock,
      node,
      defaultTopic: alohaImageTopic,
    });
    if (source !== undefined) cameras[name] = source;
  }
  const { transport: _t, cameras: _c, gripper: _g, ...envOptions } = options;
  const close = async (): Promise<void> => {
    await environment.close();
    node?.destroy();
    await ownedContext?.shutdown();
  };
  let environment: AlohaEnvironment;
  try {
    environment = new AlohaEnvironment({ ...envOptions, transport, cameras, gripper, clock });
  } catch (e) {
    await transport.close();
    node?.destroy();
    await ownedContext?.shutdown();
    throw e;
  }
  try {
    await environment.start();
  } catch (e) {
    await close();
    throw e;
  }
  return { environment, transport, ...(node === undefined ? {} : { node }), close };
}
