/**
 * One episode's frame table as a LeRobot v2.1 parquet file, and back: Apache Arrow's JS library builds the columns,
 * parquet-wasm (the Rust `parquet` crate compiled to WebAssembly) writes and reads the file. Column types are what
 * lerobot's own writer produces (via HF `datasets`): `fixed_size_list<float32>[dim]` for state and action, float32
 * `timestamp`, int64 `frame_index` / `episode_index` / `index` / `task_index`, plus the `huggingface` schema metadata
 * naming their feature types (lerobot-format.ts `huggingfaceMetadata`).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { ACTION_KEY, type FeatureSpec, huggingfaceMetadata, STATE_KEY } from './lerobot-format.js';

/** The columns of one episode, `length` rows; state and action row-major [length, dim]. */
export interface EpisodeTable {
  readonly length: number;
  readonly dim: number;
  readonly state: Float32Array;
  readonly action: Float32Array;
  /** Seconds from the episode's start: frame_index / fps. */
  readonly timestamp: Float32Array;
  readonly frameIndex: BigInt64Array;
  readonly episodeIndex: BigInt64Array;
  /** Global frame index over the dataset. */
  readonly index: BigInt64Array;
  readonly taskIndex: BigInt64Array;
}

function vectorColumn(values: Float32Array, length: number, dim: number): arrow.Data {
  const child = arrow.makeData({ type: new arrow.Float32(), length: length * dim, data: values });
  return arrow.makeData({
    type: new arrow.FixedSizeList(dim, new arrow.Field('element', new arrow.Float32(), true)),
    length,
    child,
  });
}

/** The parquet bytes of one episode (snappy-compressed, one row group). */
export function encodeEpisodeParquet(
  t: EpisodeTable,
  features: Readonly<Record<string, FeatureSpec>>,
): Uint8Array {
  const n = t.length;
  const columns: [string, arrow.Data][] = [
    [STATE_KEY, vectorColumn(t.state, n, t.dim)],
    [ACTION_KEY, vectorColumn(t.action, n, t.dim)],
    ['timestamp', arrow.makeData({ type: new arrow.Float32(), length: n, data: t.timestamp })],
    ['frame_index', arrow.makeData({ type: new arrow.Int64(), length: n, data: t.frameIndex })],
    ['episode_index', arrow.makeData({ type: new arrow.Int64(), length: n, data: t.episodeIndex })],
    ['index', arrow.makeData({ type: new arrow.Int64(), length: n, data: t.index })],
    ['task_index', arrow.makeData({ type: new arrow.Int64(), length: n, data: t.taskIndex })],
  ];
  const fields = columns.map(([name, d]) => new arrow.Field(name, d.type, true));
  const schema = new arrow.Schema(fields, new Map([['huggingface', huggingfaceMetadata(features)]]));
  const batch = new arrow.RecordBatch(
    schema,
    arrow.makeData({ type: new arrow.Struct(fields), length: n, children: columns.map(([, d]) => d) }),
  );
  const ipc = arrow.tableToIPC(new arrow.Table([batch]), 'stream');
  const table = parquet.Table.fromIPCStream(ipc);
  const props = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.SNAPPY).build();
  return parquet.writeParquet(table, props);
}

function column(table: arrow.Table, name: string, file: string): arrow.Vector {
  const c = table.getChild(name);
  if (c === null) {
    throw new OpenpiEdgeError('BAD_DATASET', `${file}: no column ${name}`, { file, field: name });
  }
  return c;
}

/** A vector column (fixed-size or variable list of floats) as row-major float32 [rows, dim]. */
function vectorValues(table: arrow.Table, name: string, file: string): { dim: number; values: Float32Array } {
  const c = column(table, name, file);
  const rows = c.length;
  if (rows === 0) return { dim: 0, values: new Float32Array(0) };
  const first = c.get(0) as arrow.Vector | null;
  const dim = first?.length ?? 0;
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const v = c.get(r) as arrow.Vector | null;
    if (v === null || v.length !== dim) {
      throw new OpenpiEdgeError(
        'BAD_DATASET',
        `${file}: ${name} row ${r} has ${v?.length ?? 0} values, not ${dim}`,
        {
          file,
          field: name,
          row: r,
        },
      );
    }
    for (let i = 0; i < dim; i++) out[r * dim + i] = Number(v.get(i));
  }
  return { dim, values: out };
}

function int64Values(table: arrow.Table, name: string, file: string): BigInt64Array {
  const c = column(table, name, file);
  const out = new BigInt64Array(c.length);
  for (let r = 0; r < c.length; r++) out[r] = BigInt(c.get(r) as number | bigint);
  return out;
}

/** Reads an episode parquet written by us or by lerobot; BAD_DATASET naming the file and column when it is not one. */
export function decodeEpisodeParquet(bytes: Uint8Array, file: string): EpisodeTable {
  let table: arrow.Table;
  try {
    table = arrow.tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  } catch (e) {
    throw new OpenpiEdgeError(
      'BAD_DATASET',
      `${file}: not a readable parquet file (${e instanceof Error ? e.message : String(e)})`,
      { file },
      { cause: e },
    );
  }
  const state = vectorValues(table, STATE_KEY, file);
  const action = vectorValues(table, ACTION_KEY, file);
  if (state.dim !== action.dim) {
    throw new OpenpiEdgeError(
      'BAD_DATASET',
      `${file}: state has ${state.dim} values per row, action ${action.dim}`,
      {
        file,
      },
    );
  }
  const ts = column(table, 'timestamp', file);
  return {
    length: table.numRows,
    dim: state.dim,
    state: state.values,
    action: action.values,
    timestamp: Float32Array.from({ length: ts.length }, (_, i) => Number(ts.get(i))),
    frameIndex: int64Values(table, 'frame_index', file),
    episodeIndex: int64Values(table, 'episode_index', file),
    index: int64Values(table, 'index', file),
    taskIndex: int64Values(table, 'task_index', file),
  };
}
