/**
 * `edge-agent start <flags>` exactly as the CLI runs it (packages/edge-agent/src/cli/main.ts `main(['start', ...])`,
 * what `pnpm --filter edge-agent start <flags>` runs), plus the run's whole AgentRunSummary written as JSON to
 * $OPENPI_BENCH_SUMMARY_FILE: the CLI prints only some of it (no maxima), so EdgeAgent.prototype.run is wrapped here
 * to keep what it resolves with. Nothing else differs from the CLI. Used by bench/ros2-inner.ts:
 *   OPENPI_BENCH_SUMMARY_FILE=/tmp/s.json node --conditions=source --import tsx bench/ros2-episode.ts --robot aloha ...
 * stdout/stderr: the CLI's. Exit code: the CLI's.
 */
import { writeFileSync } from 'node:fs';
import { type AgentRunSummary, EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { main } from '../packages/edge-agent/src/cli/main.js';

const file = process.env.OPENPI_BENCH_SUMMARY_FILE;
const original = EdgeAgent.prototype.run;
let summary: AgentRunSummary | undefined;
EdgeAgent.prototype.run = async function (this: EdgeAgent): Promise<AgentRunSummary> {
  summary = await original.call(this);
  return summary;
};
const code = await main(['start', ...process.argv.slice(2)]);
if (file !== undefined) writeFileSync(file, JSON.stringify(summary ?? null));
process.exit(code);
