/**
 * The format-independent view of a recorded run that `edge-agent replay` works on. A recording format (an MCAP log
 * of `start --record-mcap`, mcap-recording.ts; a LeRobot dataset) is a {@link RecordingSource}: it yields
 * {@link RecordedEpisode}s, each the control steps of one episode and, where the format has them, the inferences
 * the policy was asked for. The replay (replay-policy.ts, dry-run.ts) knows no format.
 *
 * Units: times in seconds from the episode's first step; joint values in the action's order and units (rad for arm
 * joints, grippers normalised 0 = closed … 1 = open), i.e. what the safety gate measures and commands.
 */
import type { CameraFrame } from '../io/cameras/camera-source.js';

/** Joint values: float64 where the format keeps doubles (MCAP's JSON), float32 where it stores float32 (datasets). */
export type JointValues = Float32Array | Float64Array;

/** One control step. */
export interface RecordedStep {
  /** Seconds from the episode's first step. */
  readonly t: number;
  /** Measured joints at the start of the step (action order and units), or null when none was recorded. */
  readonly state: JointValues | null;
  /** The command sent this tick (action order and units), or null when nothing was sent (a hold before the first
   *  move, a dataset row without an action). */
  readonly action: JointValues | null;
}

/** An action chunk: `shape` [H, D], `data` row-major (H·D values; NaN where the recording had none). */
export interface RecordedChunk {
  readonly shape: readonly [number, number];
  readonly data: JointValues;
}

/** One recorded inference: what the policy was given and what it returned. */
export interface RecordedInference {
  /** 1-based inference number of the run (the MCAP `index`). */
  readonly index: number;
  /** Seconds from the episode's first step when the policy was asked (negative: before the episode clock started,
   *  e.g. the start-up check and the episode's first chunk). */
  readonly t: number;
  /** Measured joints the observation was built from (action order and units). */
  readonly state: JointValues;
  /** How far (ms) the recorded joint state used as `state` is from the moment the policy was asked; 0 when the
   *  format records the observation's state itself. */
  readonly stateGapMs: number;
  /** The camera frames the policy was given, by camera name (JPEG or rgb8; camera-source.ts). */
  readonly frames: Readonly<Record<string, CameraFrame>>;
  /** The chunk the policy returned, or null when the inference failed (`error`). */
  readonly chunk: RecordedChunk | null;
  readonly error: string | null;
}

export interface RecordedEpisode {
  /** 0-based episode index of the run. */
  readonly index: number;
  /** Task prompt of the episode ('' when unknown). */
  readonly task: string;
  /** Control rate (Hz) the steps were recorded at. */
  readonly fps: number;
  /** Joint names in action order (the length of every state and action). */
  readonly joints: readonly string[];
  /** Camera names the frames are keyed by. */
  readonly cameras: readonly string[];
  readonly steps: readonly RecordedStep[];
  /** The inferences recorded (MCAP), or null when the format has none (a dataset: the replay then asks the policy
   *  every `stride` steps itself, with the frames from {@link frameAt}). */
  readonly inferences: readonly RecordedInference[] | null;
  /** Camera frames of step `step` (0-based). Required when `inferences` is null. */
  frameAt?(step: number): Promise<Readonly<Record<string, CameraFrame>>>;
}

/** An opened recording. */
export interface RecordingSource {
  /** What was opened, for reports (`mcap /path/run.mcap (complete)`). */
  readonly description: string;
  /** Robot plugin name the run used (`aloha`), or null when the recording does not say. */
  readonly robot: string | null;
  /** The prompt the run sent, or null when it used the model's / server's default. */
  readonly prompt: string | null;
  /** Episodes in order. */
  episodes(): AsyncIterable<RecordedEpisode>;
  /** Releases files. Idempotent. */
  close(): Promise<void>;
}
