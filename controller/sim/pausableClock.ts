/**
 * One controller process's view of virtual time, which can be frozen: a zombie leader (a process paused past
 * its lease, by a long GC, a stopped VM or a laptop lid) does nothing while paused, then wakes with its overdue
 * timers firing in the order they were due and its port calls going out only then, as a real process would.
 */
import type { Clock } from '../ports/clock.ts';
import type { VirtualClock } from './virtualClock.ts';
import { timerSleep } from './timerSleep.ts';

export class PausableClock implements Clock {
  private pausedUntilMs = Number.NEGATIVE_INFINITY;
  private deferred: Array<() => void> = [];
  private waiters: Array<() => void> = [];

  /** `skewMs`: how far this process's clock reads off true time (its timers run at the true rate). */
  constructor(private readonly clock: VirtualClock, private readonly skewMs = 0) {}

  nowMs(): number {
    return this.clock.nowMs() + this.skewMs;
  }

  paused(): boolean {
    return this.clock.nowMs() < this.pausedUntilMs;
  }

  /** Freezes this process for `forMs` of virtual time. */
  pause(forMs: number): void {
    this.pausedUntilMs = this.clock.nowMs() + forMs;
    this.clock.setTimer(forMs, () => this.wake());
  }

  setTimer(ms: number, fn: () => void): () => void {
    let cancelled = false;
    const run = (): void => {
      if (!cancelled) fn();
    };
    const cancel = this.clock.setTimer(ms, () => (this.paused() ? this.deferred.push(run) : run()));
    return () => {
      cancelled = true;
      cancel();
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return timerSleep({ setTimer: (delayMs, fn) => this.setTimer(delayMs, fn), ms, signal });
  }

  /** Resolves at once when running, else when the process wakes. */
  awake(): Promise<void> {
    if (!this.paused()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Holds every call of `target` made while the process is paused until it wakes. */
  gate<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value: unknown = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...a: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => (this.paused()
          ? this.awake().then(() => method.apply(obj, args))
          : method.apply(obj, args));
      },
    });
  }

  private wake(): void {
    if (this.paused()) return;
    const due = this.deferred;
    this.deferred = [];
    for (const fn of due) fn();
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
