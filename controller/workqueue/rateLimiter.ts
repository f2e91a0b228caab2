/** Rate limiters as small composable objects, after client-go's workqueue. */
import type { Random } from '../ports/clock.ts';

export interface RateLimiter<K> {
  /** How long to wait before `key` is processed again; counts a failure. */
  whenMs(key: K): number;
  /** Stops tracking `key` (it succeeded). */
  forget(key: K): void;
  failures(key: K): number;
}

/** Per-item exponential backoff with a cap and jitter (the delay lies in [d * (1 - jitter), d]). */
export class ExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  private readonly counts = new Map<K, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: Random;

  constructor(options: { baseMs: number; maxMs: number; jitter?: number; random: Random }) {
    this.baseMs = options.baseMs;
    this.maxMs = options.maxMs;
    this.jitter = Math.min(Math.max(options.jitter ?? 0.2, 0), 1);
    this.random = options.random;
  }

  whenMs(key: K): number {
    const failures = this.counts.get(key) ?? 0;
    this.counts.set(key, failures + 1);
    const full = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(failures, 40));
    return full - full * this.jitter * this.random();
  }

  forget(key: K): void {
    this.counts.delete(key);
  }

  failures(key: K): number {
    return this.counts.get(key) ?? 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  constructor(private readonly limiters: Array<RateLimiter<K>>) {}

  whenMs(key: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.whenMs(key)));
  }

  forget(key: K): void {
    for (const l of this.limiters) l.forget(key);
  }

  failures(key: K): number {
    return Math.max(0, ...this.limiters.map((l) => l.failures(key)));
  }
}
