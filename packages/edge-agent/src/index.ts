export {
  type AgentRunSummary,
  checkBundleFits,
  checkChunkFits,
  cpuThreads,
  EdgeAgent,
  type EdgeAgentOptions,
  formatSummary,
} from './agent/edge-agent.js';
export { GuardedAgent, type GuardedAgentOptions, NO_ACTION } from './agent/guarded-agent.js';
export { ImagesOnDemandPolicy, type PickFramesOptions, pickFrames } from './agent/images-on-demand.js';
export { LoopStats, type Percentiles, percentiles, SampleSeries } from './agent/loop-stats.js';
export { PolicyMonitor } from './agent/policy-monitor.js';
export {
  actionRow,
  type GateTally,
  type ResetOutcome,
  RobotEnvironment,
  type RobotEnvironmentOptions,
} from './agent/robot-environment.js';
export {
  describeControl,
  describeLimits,
  formatStartupReport,
  type StartupReport,
} from './agent/startup-report.js';
export { formatStatus, StatusLine, type StatusSink, type StatusSnapshot } from './agent/status-line.js';
export {
  AGENT_DEFAULTS,
  DEMO_BUNDLE_DIR,
  DEMO_BUNDLE_UR5,
  loadConfigFile,
  parseConfigFile,
  resolveConfig,
} from './config/load.js';
export {
  type AgentConfig,
  type AgentConfigFile,
  agentConfigFileSchema,
  BundleConfigSchema,
  type ModelConfig,
  RemoteConfigSchema,
  type RobotConfigSection,
  Ros2ConfigSchema,
} from './config/schema.js';
// Inference off the control thread (src/inference): WorkerPolicy, frame conversion off the loop, image-prep worker.
export { ImagePrepWorker } from './inference/image-prep-worker.js';
export {
  type FramePolicy,
  framesForPosting,
  framesToImages,
  isFramePolicy,
  type RawFrames,
  toSharedBytes,
  withFrameImages,
} from './inference/raw-frames.js';
export type { SupervisionOptions, WorkerEvent, WorkerStats } from './inference/supervised-worker.js';
export { type ModelReport, WorkerPolicy, type WorkerPolicyOptions } from './inference/worker-policy.js';
export type { WorkerTestHooks, WorkerTestOp } from './inference/worker-protocol.js';
export {
  type CameraFrame,
  type CameraHealth,
  type CameraSource,
  checkCamera,
  type FrameEncoding,
  FrameSlot,
  freshFrame,
  type LatestFrame,
} from './io/cameras/camera-source.js';
export {
  FfmpegCamera,
  type FfmpegCameraOptions,
  type FfmpegInput,
  ffmpegArgs,
} from './io/cameras/ffmpeg-camera.js';
export { frameToImage, frameToRgb } from './io/cameras/frame-convert.js';
export {
  GeneratedCamera,
  type GeneratedCameraOptions,
  generatedPattern,
} from './io/cameras/generated-camera.js';
export { RosImageCamera, type RosImageCameraOptions } from './io/cameras/ros-image-camera.js';
export { type Bundle, type LoadBundleOptions, loadBundle, readManifest } from './model/bundle.js';
export {
  DEFAULT_PROVIDERS,
  type ProviderConfig,
  type ProviderEntry,
  type ProviderFailure,
  type ProviderName,
  type ProviderWarn,
  parseProviderList,
  parseProviders,
  type SessionTuning,
  tensorRtEnv,
} from './model/execution-providers.js';
export { type Golden, maxAbsDiff, readGolden } from './model/golden.js';
export {
  expectedGraphIO,
  type GraphName,
  type GraphSpec,
  type Manifest,
  ManifestSchema,
  parseManifest,
  type TensorSpec,
} from './model/manifest.js';
export { type ModelLoadReport, OnnxModel, type OnnxModelOptions, zeroInputs } from './model/onnx-model.js';
export { type LoadedOrt, type LoadOrtOptions, loadOrt, ORT_PATH_ENV, type Ort } from './model/ort-binding.js';
export { GaussianRng, type NoiseSource } from './model/rng.js';
export {
  type BatchInputs,
  type SampleOptions,
  type SampleResult,
  Sampler,
  type SampleTiming,
} from './model/sampler.js';
export { type InferOptions, OnnxPolicy, type OnnxPolicyOptions } from './policy/onnx-policy.js';
export {
  type CameraImages,
  type CameraImagesOptions,
  captureCameraImages,
} from './robots/aloha/camera-images.js';
export {
  ALOHA_CONFIG_DEFAULTS,
  type AlohaCameraConfig,
  AlohaCameraConfigSchema,
  type AlohaConfig,
  AlohaConfigSchema,
  parseCameraFlag,
} from './robots/aloha/config.js';
export {
  ALOHA_CAMERA_NAMES,
  ALOHA_CONTROL_HZ,
  ALOHA_DEFAULT_RESET_POSE,
  ALOHA_GRIPPER_PROFILES,
  ALOHA_NAMESPACES,
  ALOHA_RESET_TIMING,
  ALOHA_SIDES,
  type AlohaCameraName,
  type AlohaGeneration,
  type AlohaGripperProfile,
  type AlohaSide,
  alohaImageTopic,
  resetPoseFromMetadata,
  VX300S_GRIPPER,
} from './robots/aloha/constants.js';
export {
  type AlohaCameraSpec,
  type CreateAlohaEnvironmentOptions,
  type CreatedAloha,
  createAlohaEnvironment,
} from './robots/aloha/create.js';
export {
  createEmulatedAlohaArms,
  type DynamixelArmsOptions,
  type EmulatedAlohaArms,
  type EmulatedArmsOptions,
  openSerialAlohaArms,
  type SerialArmsOptions,
} from './robots/aloha/dynamixel-transport.js';
export {
  type EmulateAlohaOptions,
  type EmulatedAloha,
  type EmulatedAlohaArm,
  emulateAloha,
} from './robots/aloha/emulate.js';
export {
  AlohaEnvironment,
  type AlohaEnvironmentOptions,
  type AlohaMeasuredJoints,
  type AlohaResetTiming,
} from './robots/aloha/environment.js';
export {
  type AlohaPlugin,
  type AlohaPluginExtras,
  alohaPlugin,
  resolveAlohaCameras,
} from './robots/aloha/plugin.js';
export { Ros2AlohaArms, type Ros2ArmsOptions } from './robots/aloha/ros2-transport.js';
export { ALOHA_SAFETY_DEFAULTS } from './robots/aloha/safety-defaults.js';
export { viperxJointRanges, withServoLimits } from './robots/aloha/servo-limits.js';
export type {
  AlohaArmState,
  AlohaArmsState,
  AlohaArmsTransport,
  AlohaTransportCapabilities,
} from './robots/aloha/transport.js';
export {
  type CameraConfig,
  CameraConfigSchema,
  parseCameraFlag as parseNamedCameraFlag,
  parseCameraSource,
  type ResolveCamerasOptions,
  resolveCameras,
} from './robots/camera-config.js';
export {
  type BusStats,
  DynamixelBus,
  type DynamixelBusOptions,
  type DynamixelTimer,
  encodeRegister,
  type PingResult,
  type SyncWriteEntry,
} from './robots/dynamixel/bus.js';
export {
  DriveModeBit,
  ModelNumber,
  OperatingMode,
  type OperatingModeValue,
  type Register,
  XRegister,
} from './robots/dynamixel/control-table.js';
export { CRC16_TABLE, crc16 } from './robots/dynamixel/crc.js';
export {
  type BusEmulatorOptions,
  DynamixelBusEmulator,
  type EmulatorClock,
  type EmulatorFault,
} from './robots/dynamixel/emulator/bus-emulator.js';
export {
  SERVO_MODELS,
  type ServoModel,
  XC430_W150,
  XL430_W250,
  XM430_W350,
  XM540_W270,
} from './robots/dynamixel/emulator/models.js';
export { createPtyPair, type PtyPair, type PtyPairOptions } from './robots/dynamixel/emulator/pty.js';
export { type ServedBus, serveEmulatorOnPort } from './robots/dynamixel/emulator/serve-pty.js';
export {
  EmulatedServo,
  type EmulatedServoOptions,
  type ServoSettings,
} from './robots/dynamixel/emulator/servo.js';
export {
  createViperXBusEmulator,
  VIPERX_SLEEP_POSE,
  type ViperXBusOptions,
} from './robots/dynamixel/emulator/viperx-bus.js';
export { DynamixelError } from './robots/dynamixel/errors.js';
export {
  DynamixelFramer,
  type FramerOptions,
  type FramerReject,
  type FramerStats,
} from './robots/dynamixel/framer.js';
export {
  ALERT_BIT,
  BROADCAST_ID,
  buildPacket,
  buildStatusPacket,
  type DynamixelPacket,
  HARDWARE_ERROR_BITS,
  hardwareErrorNames,
  Instruction,
  type InstructionCode,
  type InstructionPacket,
  MAX_ID,
  parsePacket,
  STATUS_ERROR_NAMES,
  StatusError,
  type StatusPacket,
  statusErrorName,
  stuff,
  unstuff,
} from './robots/dynamixel/packet.js';
export { openSerialTransport, type SerialTransportOptions } from './robots/dynamixel/serial-transport.js';
export {
  type ByteTransport,
  createMemoryLink,
  type MemoryLinkOptions,
} from './robots/dynamixel/transport.js';
export {
  ALOHA_VX300S_GRIPPER,
  ARM_JOINT_NAMES,
  type ArmJointName,
  countsToRadians,
  currentToMilliamps,
  FOLLOWER_GRIPPER,
  fingerSeparationToGripperAngle,
  type GripperConstants,
  type GripperGeometry,
  gripperAngleToFinger,
  normalizeGripperJoint,
  normalizeGripperPosition,
  PUPPET_GRIPPER,
  radiansToCounts,
  unnormalizeGripperJoint,
  unnormalizeGripperPosition,
  VIPERX_ARM_IDS,
  VIPERX_GRIPPER_ID,
  VIPERX_SERVOS,
  VIPERX_SHADOW_IDS,
  ViperXArm,
  type ViperXArmOptions,
  type ViperXServo,
  type ViperXState,
  velocityToRadPerSec,
  viperxArmLimits,
} from './robots/dynamixel/viperx.js';
export type {
  AnyRobotPlugin,
  ResetSegment,
  Robot,
  RobotCamera,
  RobotConnectOptions,
  RobotFault,
  RobotFlag,
  RobotJointState,
  RobotLayout,
  RobotPlugin,
} from './robots/interface.js';
export { mergeSection } from './robots/merge-section.js';
export { BUILTIN_ROBOTS, findRobot } from './robots/registry.js';
export { RobotiqEmulator, type RobotiqEmulatorOptions } from './robots/robotiq/emulator.js';
export {
  type ActivateOptions,
  type MoveTarget,
  RobotiqGripper,
  type RobotiqGripperOptions,
} from './robots/robotiq/gripper.js';
export {
  ROBOTIQ_BAUD_RATE,
  ROBOTIQ_SLAVE_ID,
  type RobotiqFault,
  type RobotiqStatus,
} from './robots/robotiq/registers.js';
export { type EmulatedRobotiq, emulateRobotiqOnPty, serveRobotiqOnPort } from './robots/robotiq/serve-pty.js';
export { type SafetyRobot, safetyConfigFor } from './robots/safety-defaults.js';
export {
  type BringUpOptions,
  bringUp,
  DashboardClient,
  type DashboardConnectOptions,
} from './robots/ur/dashboard-client.js';
export {
  UR_DEFAULT_PORTS as UR_EMULATOR_DEFAULT_PORTS,
  UrControllerEmulator,
  type UrEmulatorOptions,
  type UrEmulatorPort,
  type UrEmulatorSnapshot,
  type UrTargetListener,
} from './robots/ur/emulator/emulator.js';
export { startUrEmulatorThread, type UrEmulatorThread } from './robots/ur/emulator/emulator-thread.js';
export {
  type ControllerVersion,
  RTDE_PACKAGE,
  RtdeFramer,
  type TextMessage as RtdeTextMessage,
} from './robots/ur/rtde/codec.js';
export { RtdeClient, type RtdeClientOptions, type RtdeRecipe } from './robots/ur/rtde/rtde-client.js';
export {
  ROBOT_MODE,
  RTDE_INPUT_TYPES,
  RTDE_OUTPUT_TYPES,
  type RtdeType,
  type RtdeValue,
  RUNTIME_STATE,
  SAFETY_MODE,
} from './robots/ur/rtde/types.js';
export type { ServoStats } from './robots/ur/servo-messages.js';
export {
  DEFAULT_SERVO_PARAMS,
  SERVO_MODE,
  SERVO_STATE,
  type ServoProgramParams,
  servoProgram,
} from './robots/ur/servo-program.js';
export { ARM_FAULT, type ArmFaultName, type ArmState } from './robots/ur/servo-shared.js';
export {
  type BringUpStep,
  UR_DEFAULT_PORTS,
  UrArm,
  type UrArmOptions,
  type UrPorts,
} from './robots/ur/ur-arm.js';
export type { Ur5ArmLink } from './robots/ur5/arm-link.js';
export {
  UR5_CAMERAS,
  UR5_CONFIG_DEFAULTS,
  UR5_HOME_POSE,
  type Ur5Camera,
  type Ur5Config,
  Ur5ConfigSchema,
} from './robots/ur5/config.js';
export {
  NoGripper,
  RobotiqLink,
  type RobotiqLinkOptions,
  type Ur5GripperLink,
} from './robots/ur5/gripper-link.js';
export {
  resolveUr5Cameras,
  UR5_GRIPPER_OPEN,
  UR5_JOINTS,
  UR5_LAYOUT,
  type Ur5EmulatedCell,
  type Ur5Plugin,
  type Ur5PluginExtras,
  Ur5Robot,
  ur5ImageTopic,
  ur5Plugin,
} from './robots/ur5/plugin.js';
export { UR_ROS2_TYPES, Ur5Ros2Arm, type Ur5Ros2ArmOptions } from './robots/ur5/ros2-arm.js';
export { armSafety, UR5_SAFETY_DEFAULTS } from './robots/ur5/safety-defaults.js';
export {
  AGENT_ROS2_TYPES,
  AgentRos2Topics,
  type AgentRos2TopicsOptions,
  DEFAULT_ESTOP_TOPIC,
  DEFAULT_STATUS_TOPIC,
  type OpenAgentRos2Options,
  type OpenedAgentRos2,
  openAgentRos2Topics,
} from './ros2/agent-topics.js';
export {
  type CompressedImageMessage,
  type ImageMessage,
  type JointStateMessage,
  parseCompressedImage,
  parseImage as parseRosImage,
  parseJointState,
  ROS2_TYPES,
  type StampedMessage,
} from './ros2/messages.js';
export { createRclnodejsContext, type RclnodejsContextOptions } from './ros2/rclnodejs-adapter.js';
export {
  initRclnodejs,
  loadRclnodejs,
  type RclnodejsModule,
  type RclnodejsNode,
  rosEnvironmentProblem,
} from './ros2/rclnodejs-binding.js';
export {
  type Ros2Context,
  type Ros2Node,
  type Ros2Publisher,
  type Ros2QosPreset,
  type Ros2Service,
  type Ros2ServiceClient,
  type Ros2ServiceHandler,
  type Ros2Subscription,
  type Ros2SubscriptionOptions,
  resolveRosName,
} from './ros2/surface.js';
export {
  ARM_MAX_VELOCITY,
  applySafetyOverrides,
  armJoint,
  GRIPPER_MAX_VELOCITY,
  gripperJoint,
  type JointLimit,
  JointLimitSchema,
  parseSafetyConfig,
  perTickLimits,
  REJECT_MARGIN,
  type SafetyConfig,
  SafetyConfigSchema,
  type SafetyOverrides,
  SafetyOverridesSchema,
  type WatchdogConfig,
  WatchdogConfigSchema,
} from './safety/config.js';
export {
  EStop,
  type EStopCause,
  type EStopEvent,
  type EStopOptions,
  type EStopResetResult,
  type EStopSource,
} from './safety/estop.js';
export {
  type AttachKeyboardOptions,
  type AttachSignalsOptions,
  attachKeyboard,
  attachSignals,
  type KeyboardStream,
  type SignalTarget,
} from './safety/estop-inputs.js';
export { FAULT_CODES, type FaultCode, type LimitEvent, type SafetyFault } from './safety/faults.js';
export {
  assertSafeCommand,
  type GateDecision,
  type GateInput,
  type MeasuredJoints,
  type MotionInput,
  type RobotReportedFault,
  SafeCommand,
  type SafetyCounters,
  SafetyGate,
  type SafetyGateOptions,
} from './safety/gate.js';
export { type JointVector, type LimiterResult, SafetyLimiter } from './safety/limiter.js';
export { checkTarget, type MovePlan, type MovePlanOptions, planMove } from './safety/move-plan.js';
export { type PolicyHealth, Watchdog, type WatchdogInput } from './safety/watchdog.js';
export { flattenDict, npyObjectFile, pickleValue } from './server/npy-pickle.js';
export {
  formatRecorderStats,
  nextStepNumber,
  PolicyRecorder,
  type PolicyRecorderOptions,
  type RecorderStats,
  stepFileName,
} from './server/policy-recorder.js';
export { type ServeBundleOptions, type ServingBundle, serveBundle } from './server/serve-bundle.js';
export { chunkToFloat64, sliceActions } from './transforms/action-slice.js';
export {
  ALOHA_CAMERAS,
  ALOHA_GRIPPER_DIMS,
  ALOHA_JOINT_FLIP_MASK,
  type AlohaOptions,
  alohaInputs,
  alohaOutputs,
  encodeAlohaVector,
  gripperFromAngular,
  gripperFromAngularInv,
  gripperToAngular,
} from './transforms/aloha.js';
export { absoluteActions, deltaActions, makeBoolMask } from './transforms/delta-actions.js';
export { discretizeState, discretizeValue } from './transforms/discretize.js';
export { type DroidOptions, droidInputs, droidOutputs } from './transforms/droid.js';
export { type FloatImagePolicy, type ParseImageOptions, parseImage, zerosLike } from './transforms/images.js';
export { type LiberoOptions, liberoInputs, liberoOutputs } from './transforms/libero.js';
export { type ModelLayoutOptions, modelLayoutInputs, modelLayoutOutputs } from './transforms/model-layout.js';
export { type NormStats, type NormStatsEntry, parseNormStats } from './transforms/norm-stats.js';
export { type NormalizationMode, Normalizer } from './transforms/normalize.js';
export { padToDim } from './transforms/pad.js';
export {
  type ModelInputs,
  type PipelineConfig,
  type PolicyActions,
  TransformPipeline,
} from './transforms/pipeline.js';
export { cleanPrompt, injectDefaultPrompt, promptText, pyStrip } from './transforms/prompt.js';
export {
  createRobotAdapter,
  type DeltaOptions,
  type RobotAdapter,
  type RobotSpec,
} from './transforms/robot-adapter.js';
export { loadSentencePiece, type SentencePieceModel } from './transforms/sentencepiece.js';
export {
  type PromptFormat,
  PromptTokenizer,
  type PromptTokenizerOptions,
  pi05PromptText,
  type TokenizedPrompt,
} from './transforms/tokenizer.js';
export {
  type ActionChunk,
  type AdaptedInputs,
  IMAGE_SLOTS,
  type ImageSlot,
  type PerSlot,
} from './transforms/types.js';
export { type Ur5Options, ur5Inputs, ur5Outputs } from './transforms/ur5.js';
