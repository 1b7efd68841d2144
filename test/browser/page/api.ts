/**
 * What the test page (main.ts) puts on `window.openpiTest`, shared with test/browser/browser-client.test.ts.
 * Plain JSON in and out: Playwright carries arguments and results across the page boundary.
 */

/** One infer's actions, summarized. */
export interface InferSummary {
  keys: string[];
  dtype: string;
  shape: number[];
  /** The first row of actions (first 14 values). */
  first: number[];
  finite: boolean;
  serverTimingKeys: string[];
}

/** A rejected promise as the page saw it. */
export interface ErrorSummary {
  name: string;
  code: string;
  isServerError: boolean;
  message: string;
}

export interface OpenpiTestApi {
  /** A new WebsocketClientPolicy for `url` (ws://...); connects and resolves with the server metadata. */
  connect(url: string): Promise<Record<string, unknown>>;
  /** One ALOHA-shaped observation (4 uint8 CHW 224x224 cameras, state[j] = seed + j / 100, the prompt). */
  infer(seed: number, prompt: string): Promise<InferSummary | { error: ErrorSummary }>;
  /** The client's connection state. */
  state(): string;
  close(): Promise<void>;
  environment(): { hasProcess: boolean; userAgent: string };
}
