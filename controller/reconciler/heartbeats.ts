/**
 * Lifecycle heartbeats for hosts held in Pending:Wait (or Warmed:Pending:Wait, launching into the warm pool) by
 * the group's launch hook, at a pace derived from the hook's own HeartbeatTimeout (the stack allows it from 30 s):
 * the first at first sight (a new instance, or every waiting one right after a takeover), then at most a third of
 * the timeout apart.
 */
import type { Clock } from '../ports/clock.ts';
import { isHookWaiting, type Fleet, type FleetRef, type Instance } from '../ports/fleet.ts';
import type { Logger } from '../log.ts';

export interface HeartbeatsOptions {
  fleetPort: Fleet;
  clock: Clock;
  log: Logger;
  /** the pace when the hook's timeout is unknown (an adapter that cannot tell it) */
  defaultIntervalMs: number;
  /** the group and hook; null while unknown (no spec read yet) */
  ref: () => FleetRef | null;
  /** whether a waiting host still needs its hook kept open (not failed, not being completed) */
  wanted: (instanceId: string) => boolean;
  signal: AbortSignal;
  track: (work: Promise<void>) => void;
}

/** the fastest pace, whatever the hook says */
const MIN_INTERVAL_MS = 3_000;

export class LifecycleHeartbeats {
  /** waiting instances (Pending:Wait or Warmed:Pending:Wait at the last list) → when each was last heartbeaten (null: not yet) */
  private readonly waiting = new Map<string, number | null>();
  private intervalMs: number;
  private timeoutFor: string | null = null;
  private cancelTimer: (() => void) | null = null;

  constructor(private readonly o: HeartbeatsOptions) {
    this.intervalMs = o.defaultIntervalMs;
  }

  /** Learns the hook's timeout (once per hook), then heartbeats every waiting host not heartbeaten yet. */
  async observe(instances: Instance[]): Promise<void> {
    await this.learnTimeout();
    const listed = new Set<string>();
    for (const inst of instances) {
      if (!isHookWaiting(inst.lifecycleState)) continue;
      listed.add(inst.instanceId);
      if (!this.waiting.has(inst.instanceId)) this.waiting.set(inst.instanceId, null);
    }
    for (const id of this.waiting.keys()) if (!listed.has(id)) this.waiting.delete(id);
    await this.beat();
    this.schedule();
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  private async learnTimeout(): Promise<void> {
    const ref = this.o.ref();
    if (!ref) return;
    const key = `${ref.autoScalingGroupName}\u0000${ref.lifecycleHookName}`;
    if (this.timeoutFor === key || !this.o.fleetPort.heartbeatTimeoutMs) return;
    try {
      const timeoutMs = await this.o.fleetPort.heartbeatTimeoutMs(ref);
      this.timeoutFor = key;
      this.intervalMs = timeoutMs === null
        ? this.o.defaultIntervalMs
        : Math.max(MIN_INTERVAL_MS, Math.min(this.o.defaultIntervalMs, Math.floor(timeoutMs / 3)));
    } catch (error) {
      this.o.log.warn({ err: error }, 'could not read the lifecycle hook\'s heartbeat timeout; keeping the current pace');
    }
  }

  /** A tick every half interval: a host heartbeaten between ticks waits less than a whole interval. */
  private schedule(): void {
    if (this.cancelTimer || this.o.signal.aborted) return;
    this.cancelTimer = this.o.clock.setTimer(this.intervalMs / 2, () => {
      this.cancelTimer = null;
      this.o.track(this.beat().finally(() => this.schedule()));
    });
  }

  private async beat(): Promise<void> {
    const now = this.o.clock.nowMs();
    const ref = this.o.ref();
    if (!ref) return;
    for (const [id, last] of this.waiting) {
      if (this.o.signal.aborted) return;
      if (!this.o.wanted(id)) continue;
      if (last !== null && now - last < this.intervalMs / 2) continue;
      this.waiting.set(id, now);
      await this.o.fleetPort.heartbeat({ ref, instanceId: id })
        .catch((error: unknown) => this.o.log.warn({ instanceId: id, err: error }, 'lifecycle heartbeat failed'));
    }
  }
}
