/**
 * Local errors of openpi-edge. Every error carries a stable string `code` and structured `context`
 * (which key, dtype, shape, port, ...) so a failure is diagnosable from the error alone.
 * Wire errors (what the openpi protocol sends) are represented by {@link ServerError}.
 */

/** Every code an openpi-edge error may carry. Documented in docs/errors.md. */
export type ErrorCode =
  | 'BAD_DTYPE' // dtype string unknown, unsupported (object/complex/void) or mismatching the data
  | 'BAD_SHAPE' // shape invalid or not matching the number of elements/bytes
  | 'BAD_MESSAGE' // a msgpack frame that is not valid msgpack or not the expected structure
  | 'BAD_OBSERVATION' // an observation missing a key or carrying a wrong type/shape
  | 'BAD_ARGUMENT' // a caller passed an invalid option or value
  | 'ENCODE_FAILED' // a value cannot be represented in openpi's msgpack-numpy encoding
  | 'NOT_CONNECTED' // operation needs a connection that is not open
  | 'CONNECT_TIMEOUT' // connection (handshake + metadata frame) not completed in time
  | 'REQUEST_TIMEOUT' // no reply to an infer request in time
  | 'CONNECTION_CLOSED' // the connection dropped while a request was in flight
  | 'CLOSED' // the object was closed by its owner
  | 'SERVER_ERROR' // the server answered with an error (text frame with its traceback)
  | 'MESSAGE_TOO_LARGE' // a frame exceeds the configured size cap
  | 'UNAUTHORIZED' // API key missing or wrong
  | 'POLICY_STALL' // a chunk ran out before the next one arrived
  | 'IMAGE_DECODE_FAILED' // a camera frame could not be decoded
  | 'ABORTED' // stopped from outside
  | 'STEP_FAILED' // an environment, agent or subscriber call threw inside the control loop (context: phase, episode, step)
  | 'SERVO_ERROR' // a Dynamixel servo's status packet carried an error number or the hardware-alert bit
  | 'SERVO_TIMEOUT' // no valid status packet from a Dynamixel servo in time, after all retries
  | 'BAD_BUNDLE' // a model bundle is missing a file or has an invalid manifest/graph (context: file, field)
  | 'NO_EXECUTION_PROVIDER' // no onnxruntime execution provider in the configured list could create a session (context: reasons)
  | 'INFERENCE_FAILED' // onnxruntime failed while running a graph (context: graph, step)
  | 'ROS2_UNAVAILABLE' // ROS 2 is not sourced or rclnodejs cannot be loaded (context: missing, distro)
  | 'CAMERA_STALE' // a camera has no frame, or its newest frame is older than allowed (context: camera, ageMs, maxAgeMs)
  | 'WORKER_CRASHED' // the policy worker thread exited or threw outside a request (context: exitCode, restarts)
  | 'WORKER_HUNG' // a worker did not answer a request in time and was stopped, then restarted (context: op, timeoutMs)
  | 'CONFIG_MISMATCH' // the configuration asks for something the policy or robot cannot serve (context: what, expected, got)
  | 'ROBOT_FAULT' // the robot reported a fault (servo error, protective stop, lost link) (context: robot, fault)
  | 'UNSAFE_TARGET' // a motion target outside the safety limits was refused (context: joint, value, min, max)
  | 'RTDE_ERROR' // a UR controller's RTDE interface refused or broke the session (context: stage, variable, version)
  | 'DASHBOARD_ERROR' // a UR dashboard server command failed or got an unexpected reply (context: command, reply)
  | 'GRIPPER_FAULT' // a gripper reported a fault or did not answer (context: gripper, fault, function)
  | 'BAD_DATASET' // a dataset folder is not LeRobot v2.1 or does not match what is recorded into it (context: root, file, field)
  | 'RECORDING_FAILED'; // a recorder's writer or encoder failed (context: file, stage)

export class OpenpiEdgeError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    context: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'OpenpiEdgeError';
    this.code = code;
    this.context = context;
  }
}

/** The server answered an `infer` with a text frame: openpi sends the Python traceback there, then closes 1011. */
export class ServerError extends OpenpiEdgeError {
  /** The text frame exactly as received (for openpi servers: the Python traceback). */
  readonly traceback: string;

  constructor(traceback: string, context: Record<string, unknown> = {}) {
    super('SERVER_ERROR', `Error in inference server:\n${traceback}`, context);
    this.name = 'ServerError';
    this.traceback = traceback;
  }
}

export function isOpenpiEdgeError(e: unknown, code?: ErrorCode): e is OpenpiEdgeError {
  return e instanceof OpenpiEdgeError && (code === undefined || e.code === code);
}
