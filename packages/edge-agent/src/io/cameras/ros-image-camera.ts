/**
 * A camera fed by a ROS 2 image topic: `sensor_msgs/msg/Image` (rgb8 / bgr8) or `sensor_msgs/msg/CompressedImage`
 * (JPEG). Frames are stamped on arrival with the local monotonic clock (the header stamp is another machine's wall
 * clock). A message that fails validation is counted and reported through `failure` until a good one arrives.
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { parseCompressedImage, parseImage, ROS2_TYPES } from '../../ros2/messages.js';
import type { Ros2Node, Ros2QosPreset, Ros2Subscription } from '../../ros2/surface.js';
import { type CameraFrame, type CameraSource, FrameSlot, type LatestFrame } from './camera-source.js';

export interface RosImageCameraOptions {
  name: string;
  /** Node to subscribe on (shared with other sources is fine). */
  node: Ros2Node;
  /** Topic, e.g. `/cam_high/camera/color/image_rect_raw` (Image) or `.../compressed` (CompressedImage). */
  topic: string;
  /**
   * `raw` → sensor_msgs/Image, `compressed` → sensor_msgs/CompressedImage. Default: `compressed` for a topic ending
   * in `/compressed` (image_transport's name for it, e.g. `/cam_high/camera/color/image_rect_raw/compressed`),
   * otherwise `raw`.
   */
  transport?: 'raw' | 'compressed';
  /** QoS preset. Default `sensor` (best effort; matches reliable and best-effort publishers). */
  qos?: Ros2QosPreset;
  /** Clock (ms) for arrival stamps. Default the real clock. */
  clock?: Clock;
}

export class RosImageCamera implements CameraSource {
  readonly name: string;
  readonly description: string;
  readonly #options: RosImageCameraOptions;
  readonly #slot: FrameSlot;
  #sub: Ros2Subscription | undefined;
  /** Messages rejected (bad fields or unsupported encoding). */
  rejected = 0;

  constructor(options: RosImageCameraOptions) {
    this.name = options.name;
    this.#options = options;
    this.description = `ros2:${options.topic}`;
    this.#slot = new FrameSlot(this.name, () => this.description, options.clock ?? realClock);
  }

  get failure(): Error | undefined {
    return this.#slot.failure;
  }

  start(): Promise<void> {
    if (this.#sub !== undefined) return Promise.resolve();
    const { node, topic } = this.#options;
    const compressed =
      (this.#options.transport ?? (topic.endsWith('/compressed') ? 'compressed' : 'raw')) === 'compressed';
    const type = compressed ? ROS2_TYPES.compressedImage : ROS2_TYPES.image;
    this.#sub = node.createSubscription(type, topic, { qos: this.#options.qos ?? 'sensor' }, (msg) => {
      try {
        this.#onMessage(msg, compressed);
      } catch (e) {
        this.rejected += 1;
        this.#slot.fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    return Promise.resolve();
  }

  #onMessage(msg: unknown, compressed: boolean): void {
    const topic = this.#options.topic;
    if (compressed) {
      const m = parseCompressedImage(msg, topic);
      if (!/jpe?g/i.test(m.format)) {
        throw new OpenpiEdgeError('BAD_MESSAGE', `${topic}: compressed format "${m.format}" is not JPEG`, {
          topic,
          camera: this.name,
          field: 'format',
          format: m.format,
        });
      }
      this.#slot.push({ encoding: 'jpeg', width: 0, height: 0, step: 0, data: m.data });
      return;
    }
    const m = parseImage(msg, topic);
    if (m.encoding !== 'rgb8' && m.encoding !== 'bgr8') {
      throw new OpenpiEdgeError(
        'BAD_MESSAGE',
        `${topic}: image encoding "${m.encoding}" unsupported (rgb8 or bgr8 expected)`,
        { topic, camera: this.name, field: 'encoding', encoding: m.encoding },
      );
    }
    if (m.step < m.width * 3) {
      throw new OpenpiEdgeError('BAD_MESSAGE', `${topic}: step ${m.step} < 3 x width ${m.width}`, {
        topic,
        camera: this.name,
        field: 'step',
        step: m.step,
        width: m.width,
      });
    }
    this.#slot.push({ encoding: m.encoding, width: m.width, height: m.height, step: m.step, data: m.data });
  }

  latest(): LatestFrame | null {
    return this.#slot.latest();
  }

  nextFrame(timeoutMs: number, acceptCurrent = false): Promise<CameraFrame> {
    return this.#slot.nextFrame(timeoutMs, acceptCurrent);
  }

  close(): Promise<void> {
    if (this.#sub !== undefined) this.#options.node.destroySubscription(this.#sub);
    this.#sub = undefined;
    return Promise.resolve();
  }
}
