/**
 * One onnxruntime session per bundle graph: checks the graph's real I/O against the manifest at load time, and runs
 * it with caller-owned input tensors and (where onnxruntime allows) preallocated outputs, so the steady state
 * allocates little. `run` stays asynchronous: onnxruntime-node computes off the main thread, keeping the event loop
 * (and the server's other connections) responsive.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { compareIO, type GraphName, type TensorSpec } from './manifest.js';

export class GraphSession {
  readonly name: GraphName;
  readonly file: string;
  private readonly session: InferenceSession;

  /**
   * Wraps a created session and checks its inputs/outputs (names, dtypes, shapes with `batch` dynamic) against the
   * manifest's GraphSpec. BAD_BUNDLE naming the graph file and the offending tensor.
   */
  constructor(
    name: GraphName,
    file: string,
    session: InferenceSession,
    spec: { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] },
  ) {
    this.name = name;
    this.file = file;
    this.session = session;
    const meta = (list: readonly InferenceSession.ValueMetadata[]) =>
      list.map((v) => ({
        name: v.name,
        dtype: v.isTensor ? v.type : 'non-tensor',
        shape: v.isTensor ? v.shape : [],
      }));
    compareIO(meta(session.inputMetadata), spec.inputs, `graphs.${name}.inputs`, file);
    compareIO(meta(session.outputMetadata), spec.outputs, `graphs.${name}.outputs`, file);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the graph. `outputs` may hold preallocated tensors (filled in place) for some or all outputs; the
   * others are allocated by onnxruntime. INFERENCE_FAILED naming the graph (and `step` from `context`) on failure.
   */
  async run(
    feeds: Record<string, Tensor>,
    outputs?: Record<string, Tensor>,
    context: Record<string, unknown> = {},
  ): Promise<Record<string, Tensor>> {
    try {
      return outputs === undefined ? await this.session.run(feeds) : await this.session.run(feeds, outputs);
    } catch (e) {
      throw new OpenpiEdgeError(
        'INFERENCE_FAILED',
        `${this.name} graph (${this.file}) failed: ${(e as Error).message}`,
        { graph: this.name, file: this.file, ...context },
        { cause: e },
      );
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
