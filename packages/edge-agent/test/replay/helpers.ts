/**
 * Replay tests' helpers: a real recording (`edge-agent start --record-mcap` on the emulated ALOHA with the demo
 * bundle, as test/record/ does), an MCAP rewriter (copy a recording with some messages edited or dropped), and
 * fake policies.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type IWritable, McapStreamReader, McapWriter } from '@mcap/core';
import { type BasePolicy, ndarray, type Obs } from '@openpi-edge/client';
import { expect } from 'vitest';
import { CPU_QUIET_FLAGS, runCli } from '../agent/helpers.js';

/** Records `steps` control steps to `file`; resolves with the inference count the summary printed. */
export async function recordRun(file: string, steps: number, extra: string[] = []): Promise<number> {
  const c = runCli([
    'start',
    '--robot',
    'aloha',
    ...CPU_QUIET_FLAGS,
    '--record-mcap',
    file,
    '--max-steps',
    String(steps),
    ...extra,
  ]);
  const { code } = await c.exited;
  const out = c.stdout.join('\n');
  expect(code, `${out}\n${c.stderr.join('\n')}`).toBe(0);
  const n = Number(out.match(/policy {3}(\d+) inferences/)?.[1]);
  expect(n).toBeGreaterThan(1);
  return n;
}

class MemoryWritable implements IWritable {
  readonly parts: Uint8Array[] = [];
  #pos = 0n;
  async write(buffer: Uint8Array): Promise<void> {
    this.parts.push(buffer.slice());
    this.#pos += BigInt(buffer.byteLength);
  }
  position(): bigint {
    return this.#pos;
  }
}

/**
 * Copies the MCAP file `from` to `to`, passing each message's JSON body through `edit(topic, body)`: return the
 * (possibly changed) body, or null to drop the message. Schemas, channels and metadata are kept.
 */
export async function rewriteMcap(
  from: string,
  to: string,
  edit: (topic: string, body: Record<string, unknown>) => Record<string, unknown> | null,
): Promise<void> {
  const reader = new McapStreamReader();
  reader.append(readFileSync(from));
  const out = new MemoryWritable();
  const writer = new McapWriter({ writable: out, useChunks: true });
  await writer.start({ profile: '', library: 'replay test rewriter' });
  const schemas = new Map<number, number>();
  const channels = new Map<number, { id: number; topic: string }>();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  for (let rec = reader.nextRecord(); rec !== undefined; rec = reader.nextRecord()) {
    if (rec.type === 'Schema') {
      schemas.set(
        rec.id,
        await writer.registerSchema({ name: rec.name, encoding: rec.encoding, data: rec.data }),
      );
    } else if (rec.type === 'Channel') {
      const id = await writer.registerChannel({
        topic: rec.topic,
        schemaId: schemas.get(rec.schemaId) ?? 0,
        messageEncoding: rec.messageEncoding,
        metadata: rec.metadata,
      });
      channels.set(rec.id, { id, topic: rec.topic });
    } else if (rec.type === 'Metadata') {
      await writer.addMetadata({ name: rec.name, metadata: rec.metadata });
    } else if (rec.type === 'Message') {
      const ch = channels.get(rec.channelId);
      if (ch === undefined) continue;
      const body = edit(ch.topic, JSON.parse(dec.decode(rec.data)) as Record<string, unknown>);
      if (body === null) continue;
      await writer.addMessage({ ...rec, channelId: ch.id, data: enc.encode(JSON.stringify(body)) });
    }
  }
  await writer.end();
  writeFileSync(to, Buffer.concat(out.parts));
}

/** The recorded `/policy/chunk` actions of `file`, in inference order (rows of numbers, null = absent). */
export function recordedChunks(file: string): { index: number; actions: (number | null)[][] }[] {
  const reader = new McapStreamReader();
  reader.append(readFileSync(file));
  const topics = new Map<number, string>();
  const out: { index: number; actions: (number | null)[][] }[] = [];
  for (let rec = reader.nextRecord(); rec !== undefined; rec = reader.nextRecord()) {
    if (rec.type === 'Channel') topics.set(rec.id, rec.topic);
    if (rec.type === 'Message' && topics.get(rec.channelId) === '/policy/chunk') {
      const m = JSON.parse(new TextDecoder().decode(rec.data)) as {
        index: number;
        actions: (number | null)[][];
      };
      out.push({ index: m.index, actions: m.actions });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * A policy that answers call k with `chunks[k]` plus `offset` (float64 rows), and keeps every observation it was
 * given.
 */
export class ScriptedPolicy implements BasePolicy {
  readonly seen: Obs[] = [];
  resets = 0;
  constructor(
    readonly chunks: readonly (readonly (readonly (number | null)[])[])[],
    readonly offset = 0,
  ) {}
  async infer(obs: Obs): Promise<Obs> {
    const rows = this.chunks[this.seen.length];
    this.seen.push(obs);
    if (rows === undefined) throw new Error(`ScriptedPolicy: no chunk for call ${this.seen.length}`);
    const h = rows.length;
    const d = rows[0]?.length ?? 0;
    const data = new Float64Array(h * d);
    rows.forEach((r, i) => {
      r.forEach((v, j) => {
        data[i * d + j] = (v ?? Number.NaN) + this.offset;
      });
    });
    return { actions: ndarray('float64', [h, d], data) };
  }
  reset(): void {
    this.resets += 1;
  }
}
