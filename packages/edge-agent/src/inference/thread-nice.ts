/**
 * A thread's scheduling priority (Linux nice, −20 … 19): `setpriority` on the calling thread's id from
 * /proc/thread-self (Node has no thread API for it; threads created afterwards, e.g. onnxruntime's intra-op pool,
 * inherit it). A lower value needs CAP_SYS_NICE (root); without it, or off Linux, nothing changes.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Sets this thread's nice value. Returns the value in effect afterwards, or null when it cannot be read. */
export function setThreadNice(nice: number): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!(Number.isInteger(tid) && tid > 0)) return null;
    try {
      setPriority(tid, nice);
    } catch {
      // not permitted: keep the inherited priority
    }
    return getPriority(tid);
  } catch {
    return null;
  }
}

/**
 * Puts this thread under SCHED_FIFO at `priority` (1–99) with util-linux `chrt` (Node has no API for it; ur_rtde's
 * `rt_priority` does the same for its threads). Needs CAP_SYS_NICE (root, or `ulimit -r` / rtprio in
 * limits.conf); returns false when not permitted, not Linux, or `chrt` is missing: the thread keeps its policy.
 */
export function setThreadRealtime(priority: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!(Number.isInteger(tid) && tid > 0)) return false;
    execFileSync('chrt', ['-f', '-p', String(priority), String(tid)], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}
