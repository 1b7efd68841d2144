/**
 * The page's script: bundled by test/browser/browser-client.test.ts with esbuild (platform browser) from
 * @openpi-edge/client's root entry, loaded in headless Chromium, and driven through `window.openpiTest`.
 * Everything here runs in the browser: the browser's own WebSocket, no Node globals.
 */
import {
  isOpenpiEdgeError,
  type NDArray,
  ndarray,
  type Obs,
  ServerError,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import type { ErrorSummary, InferSummary, OpenpiTestApi } from './api.js';

const ALOHA_CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;

let policy: WebsocketClientPolicy | undefined;

/** openpi's make_aloha_example shape: 4 uint8 CHW 224x224 cameras, float32[14] state, a prompt. */
function alohaObservation(seed: number, prompt: string): Obs {
  const images: Record<string, NDArray<'uint8'>> = {};
  for (const [i, name] of ALOHA_CAMERAS.entries()) {
    const data = new Uint8Array(3 * 224 * 224);
    for (let k = 0; k < data.length; k++) data[k] = (k * 31 + seed * 7 + i) & 0xff;
    images[name] = ndarray('uint8', [3, 224, 224], data);
  }
  const state = new Float32Array(14);
  for (let j = 0; j < 14; j++) state[j] = seed + j / 100;
  return { state: ndarray('float32', [14], state), images, prompt };
}

function summarizeError(e: unknown): ErrorSummary {
  return {
    name: (e as Error).name,
    code: isOpenpiEdgeError(e) ? e.code : 'not an OpenpiEdgeError',
    isServerError: e instanceof ServerError,
    message: (e as Error).message,
  };
}

const api: OpenpiTestApi = {
  /** Connects (host is a ws:// URL); resolves with the server's metadata. */
  async connect(url: string): Promise<Obs> {
    await policy?.close();
    policy = new WebsocketClientPolicy({
      host: url,
      connectTimeoutMs: 5_000,
      reconnect: { maxAttempts: 40, initialDelayMs: 50, maxDelayMs: 250 },
    });
    await policy.connect();
    return policy.getServerMetadata();
  },
  /** One ALOHA-shaped infer; a summary of the actions, or of the error. */
  async infer(seed: number, prompt: string): Promise<InferSummary | { error: ErrorSummary }> {
    if (policy === undefined) throw new Error('connect first');
    try {
      const out = await policy.infer(alohaObservation(seed, prompt));
      const actions = out.actions as NDArray;
      const values = Array.from(actions.data as Float32Array | Float64Array, Number);
      return {
        keys: Object.keys(out).sort(),
        dtype: actions.dtype,
        shape: [...actions.shape],
        first: values.slice(0, 14),
        finite: values.every(Number.isFinite),
        serverTimingKeys: Object.keys((out.server_timing ?? {}) as object).sort(),
      };
    } catch (e) {
      return { error: summarizeError(e) };
    }
  },
  state(): string {
    return policy?.state ?? 'none';
  },
  async close(): Promise<void> {
    await policy?.close();
    policy = undefined;
  },
  /** Proof that this runs in a browser: no Node `process` global. */
  environment(): { hasProcess: boolean; userAgent: string } {
    return {
      hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
      userAgent: navigator.userAgent,
    };
  },
};

(window as unknown as { openpiTest: OpenpiTestApi }).openpiTest = api;
document.title = 'openpi-edge browser client: ready';
