/**
 * Child script of mcap-recorder.test.ts, run under `node --conditions=source --import tsx`: opens a recorder, posts
 * `argv[3]` ticks, then leaves with `process.exit(3)` without closing it. The recorder's exit hook must still end
 * the file (footer and summary).
 */
import { fakeDecision, fakeStep } from './fakes.js';

const { McapRecorder } = await import('../../src/record/mcap-recorder.js');
const file = process.argv[2] as string;
const ticks = Number(process.argv[3]);
const rec = await McapRecorder.open({ file, joints: ['a', 'b'], cameras: ['cam'] });
for (let i = 0; i < ticks; i++)
  rec.tick(fakeStep(i), fakeDecision(i), { positions: [i, -i], stampMs: i * 20 });
process.exit(3);
