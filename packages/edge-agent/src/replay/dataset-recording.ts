/**
 * A LeRobot v2.1 dataset (`start --record <dir>`, or one lerobot wrote) as a {@link RecordingSource} for
 * `edge-agent replay`: each episode's rows are its steps (`observation.state` = the measured joints, `action` = the
 * command sent; timestamps from the parquet), there are no recorded inferences (a dataset keeps none), and the
 * camera frames of any step come from the episode's videos (record/lerobot-dataset-reader.ts).
 */
import { LeRobotDatasetReader } from '../record/lerobot-dataset-reader.js';
import type { RecordedEpisode, RecordedStep, RecordingSource } from './recorded-episode.js';

export function openDatasetRecording(root: string): RecordingSource {
  const reader = LeRobotDatasetReader.open(root);
  const tasks = reader.tasks();
  const open: { close(): Promise<void> }[] = [];
  const onlyTask = tasks.size === 1 ? ([...tasks.values()][0] ?? null) : null;
  return {
    description: `LeRobot dataset ${root} (${reader.info.codebase_version}, ${reader.episodes.length} episodes, ${reader.info.fps} fps)`,
    robot: reader.info.robot_type,
    prompt: onlyTask === '' ? null : onlyTask,
    async *episodes(): AsyncIterable<RecordedEpisode> {
      for (const meta of reader.episodes) {
        const ep = reader.episode(meta.index);
        open.push(ep);
        try {
          const { table } = ep;
          const dim = table.dim;
          const steps: RecordedStep[] = Array.from({ length: table.length }, (_, i) => ({
            t: table.timestamp[i] as number,
            state: table.state.subarray(i * dim, (i + 1) * dim),
            action: table.action.subarray(i * dim, (i + 1) * dim),
          }));
          const task = tasks.get(Number(table.taskIndex[0] ?? 0n)) ?? meta.tasks[0] ?? '';
          yield {
            index: meta.index,
            task,
            fps: ep.fps,
            joints: ep.joints,
            cameras: ep.cameras,
            steps,
            inferences: null,
            frameAt: (step) => ep.frameAt(step),
          };
        } finally {
          await ep.close();
        }
      }
    },
    async close() {
      await Promise.all(open.map((e) => e.close()));
    },
  };
}
