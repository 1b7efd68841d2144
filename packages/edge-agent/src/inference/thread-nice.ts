/**
 * A thread's scheduling priority (Linux nice, −20 … 19): `setpriority` on the calling thread's id from
 * /proc/thread-self (Node has no thread API for it; threads created afterwards, e.g. onnxruntime's intra-op pool,
 * inherit it). A lower value needs CAP_SYS_NICE (root); without it, or off Linux, nothing changes.
 */
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
