/**
 * CPU time of each controller of a simulation. All controllers share one process and one virtual clock, and a
 * virtual-time step runs one timer and every promise chain it started, so the step's CPU is charged to whoever
 * set that timer. CPU varies from run to run: it is printed apart, never put in a result a seed must replay.
 */
import type { VirtualClock } from './virtualClock.ts';

const WORLD = 'world';

export class CpuMeter {
  private readonly micros = new Map<string, number>();
  private owner = WORLD;
  private last = process.cpuUsage();

  /** `clock` seen by controller `name`: the timers it sets are charged to it. */
  clockFor(name: string, clock: VirtualClock): VirtualClock {
    return new Proxy(clock, {
      get: (target, prop, receiver) => {
        if (prop === 'setTimer') {
          return (ms: number, fn: () => void) => target.setTimer(ms, () => {
            this.owner = name;
            fn();
          });
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Closes a step (the clock's onStep): its CPU goes to the owner of the timer that started it. */
  step(): void {
    const now = process.cpuUsage();
    const used = now.user - this.last.user + (now.system - this.last.system);
    this.micros.set(this.owner, (this.micros.get(this.owner) ?? 0) + used);
    this.last = now;
    this.owner = WORLD;
  }

  /** CPU milliseconds by owner (controller names, and "world" for the simulated world and the run itself). */
  millis(): Record<string, number> {
    return Object.fromEntries([...this.micros.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, us]) => [k, us / 1000]));
  }
}
