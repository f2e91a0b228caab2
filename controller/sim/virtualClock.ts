/**
 * Virtual time for simulations and tests: timers fire in time order (ties in the order they were set), and
 * time only moves when every promise chain has settled, so a run is reproducible and takes no real time.
 */
import type { Clock } from '../ports/clock.ts';
import { timerSleep } from './timerSleep.ts';

interface Timer { atMs: number; seq: number; fn: () => void; cancelled: boolean }

/** Lets every pending promise chain run: adapters in simulation do no real I/O, so one macrotask turn suffices. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class VirtualClock implements Clock {
  private now: number;
  private seq = 0;
  private readonly heap: Timer[] = [];

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer: Timer = { atMs: this.now + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return timerSleep({ setTimer: (delayMs, fn) => this.setTimer(delayMs, fn), ms, signal });
  }

  /**
   * Fires timers in order until `done()` holds or the next timer lies past `untilMs`; returns whether `done`.
   * `onStep` looks at the world after every timer, once every promise chain it started has settled.
   */
  async run(options: { untilMs: number; done?: () => boolean; onStep?: () => void }): Promise<boolean> {
    for (;;) {
      await settle();
      options.onStep?.();
      if (options.done?.()) return true;
      const next = this.peek();
      if (!next || next.atMs > options.untilMs) {
        this.now = Math.max(this.now, Math.min(options.untilMs, next?.atMs ?? options.untilMs));
        return options.done?.() ?? false;
      }
      this.pop();
      this.now = next.atMs;
      next.fn();
    }
  }

  pendingTimers(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }

  private peek(): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0];
  }

  private less(a: Timer, b: Timer): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
