/**
 * Port faults from a fault plan: wraps a sim adapter so each call may fail as the plan says, while the plan's
 * window is open. The errors are the ones the real adapters translate SDK errors into, so the controller sees
 * what it would see in AWS.
 */
import type { Clock, Random } from '../ports/clock.ts';
import { ThrottledError, TransientError } from '../errors.ts';
import type { FaultPlan, PortFaultKind, PortName } from './faultPlan.ts';

/** How long a timed-out call hangs before the caller sees its error: an SDK request timeout. */
const TIMEOUT_MIN_MS = 1_000;
const TIMEOUT_MAX_MS = 10_000;

export class PortFaults {
  /** fault kind -> how many were injected (world events are counted here too) */
  readonly counts = new Map<string, number>();
  private startMs = Number.POSITIVE_INFINITY;

  private readonly streams = new Map<PortName, Random>();

  /** `randomFor` gives each port its own stream, so removing one port's faults leaves the others' draws alone. */
  constructor(private readonly plan: FaultPlan, private readonly clock: Clock, private readonly randomFor: (port: PortName) => Random) {}

  /** Opens the window: faults from now until now + plan.stopAtMs. */
  start(): void {
    this.startMs = this.clock.nowMs();
  }

  count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  countsObject(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /**
   * Every method call of `target` may fail as the plan says for `port`. A timed-out call waits on `callerClock`,
   * the calling process's own time, so a process frozen meanwhile sees its error only once it wakes.
   */
  wrap<T extends object>(target: T, port: PortName, callerClock: Clock = this.clock): T {
    const kinds = this.plan.portFaults[port] ?? [];
    if (kinds.length === 0) return target;
    const random = this.streams.get(port) ?? this.randomFor(port);
    this.streams.set(port, random);
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value: unknown = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...a: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => {
          const kind = this.draw(kinds, random);
          if (kind === null) return method.apply(obj, args);
          this.count(kind);
          return this.fail({ kind, call: `${port}.${String(prop)}`, random, clock: callerClock, run: () => method.apply(obj, args) });
        };
      },
    });
  }

  private draw(kinds: PortFaultKind[], random: Random): PortFaultKind | null {
    const now = this.clock.nowMs();
    if (now < this.startMs || now >= this.startMs + this.plan.stopAtMs) return null;
    if (random() >= this.plan.portFaultRate) return null;
    return kinds[Math.floor(random() * kinds.length)]!;
  }

  private async fail(a: { kind: PortFaultKind; call: string; random: Random; clock: Clock; run: () => Promise<unknown> }): Promise<never> {
    const { kind, call, random, clock, run } = a;
    switch (kind) {
      case 'throttled':
        throw new ThrottledError(`${call}: Rate exceeded (injected, after the SDK's retries)`);
      case 'error':
        throw new TransientError(`${call}: InternalServerError (injected)`);
      case 'timeout': {
        // The request may have reached the service before the caller gave up on it.
        if (random() < 0.5) await run().catch(() => undefined);
        const waitMs = TIMEOUT_MIN_MS + Math.floor(random() * (TIMEOUT_MAX_MS - TIMEOUT_MIN_MS));
        await clock.sleep(waitMs);
        throw new TransientError(`${call}: request timed out after ${waitMs} ms (injected)`);
      }
      case 'ambiguous': {
        const error = await run().then(() => null, (e: unknown) => e);
        throw new TransientError(`${call}: connection reset after the call took effect (injected)`, { cause: error ?? undefined });
      }
    }
  }
}
