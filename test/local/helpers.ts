/** Shared pieces of the local fleet tests: temporary homes, a clock tests can move, polling. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../../controller/ports/clock.ts';
import { realClock } from '../../controller/clock/realClock.ts';

/** A temporary FLEETSYNC_HOME (its path fits the destination pattern: mkdtemp adds letters and digits). */
export async function tempHome(prefix = 'fleetsync-local-'): Promise<{ home: string; remove(): Promise<void> }> {
  const home = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { home, remove: () => rm(home, { recursive: true, force: true }) };
}

/** Real sleeps and timers, but a time tests set by hand (for Terminating hosts leaving the group). */
export class ManualClock implements Clock {
  constructor(public now = 1_800_000_000_000) {}
  nowMs(): number {
    return this.now;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return realClock.sleep(ms, signal);
  }
  setTimer(ms: number, fn: () => void): () => void {
    return realClock.setTimer(ms, fn);
  }
}

/** Polls `probe` until it returns a value that is not undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export { pidAlive } from '../../controller/local/pid.ts';
