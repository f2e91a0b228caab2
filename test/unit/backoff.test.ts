/** Backoff: the host machine's attempt backoff (state/backoff.ts) and the work queue's rate limiters. */
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../state/backoff.ts';
import {
  ExponentialFailureRateLimiter, MaxOfRateLimiter, type RateLimiter,
} from '../../controller/workqueue/rateLimiter.ts';
import { seededRandom } from '../../controller/sim/random.ts';

/** The largest double below 1: what a [0, 1) source can return at most. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;

describe('attempt backoff (host machine)', () => {
  it('doubles with each attempt (1x, 2x, 4x, 8x) and stops at the cap', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffMs({ attempt, baseMs: 1_000, capMs: 20_000, random: 1 }));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000]);
  });

  it('treats attempt 0 as the first and does not overflow on huge attempt numbers', () => {
    expect(backoffMs({ attempt: 0, baseMs: 1_000, capMs: 20_000, random: 1 })).toBe(1_000);
    expect(backoffMs({ attempt: 10_000, baseMs: 1_000, capMs: 20_000, random: 1 })).toBe(20_000);
  });

  it('stays in [d/2, d] over many draws, with random at 0, near 1, and out of range', () => {
    const random = seededRandom(7);
    for (let attempt = 1; attempt <= 12; attempt += 1) {
      const d = Math.min(300_000, 10_000 * 2 ** (attempt - 1));
      expect(backoffMs({ attempt, baseMs: 10_000, capMs: 300_000, random: 0 })).toBe(d / 2);
      expect(backoffMs({ attempt, baseMs: 10_000, capMs: 300_000, random: ALMOST_ONE })).toBe(d);
      expect(backoffMs({ attempt, baseMs: 10_000, capMs: 300_000, random: -3 })).toBe(d / 2);
      expect(backoffMs({ attempt, baseMs: 10_000, capMs: 300_000, random: 5 })).toBe(d);
      for (let i = 0; i < 500; i += 1) {
        const delay = backoffMs({ attempt, baseMs: 10_000, capMs: 300_000, random: random() });
        expect(delay).toBeGreaterThanOrEqual(d / 2);
        expect(delay).toBeLessThanOrEqual(d);
      }
    }
  });

  it('spreads delays over the jitter window, not onto one value', () => {
    const random = seededRandom(11);
    const delays = new Set(Array.from({ length: 200 }, () => backoffMs({ attempt: 3, baseMs: 10_000, capMs: 300_000, random: random() })));
    expect(delays.size).toBeGreaterThan(100);
  });
});

describe('ExponentialFailureRateLimiter', () => {
  it('grows 1x, 2x, 4x... per key and is capped (no jitter draw: random 0)', () => {
    const limiter = new ExponentialFailureRateLimiter<string>({ baseMs: 100, maxMs: 1_000, random: () => 0 });
    const delays = Array.from({ length: 7 }, () => limiter.whenMs('a'));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(limiter.failures('a')).toBe(7);
  });

  it('keeps keys apart, and forget starts a key over', () => {
    const limiter = new ExponentialFailureRateLimiter<string>({ baseMs: 100, maxMs: 10_000, random: () => 0 });
    limiter.whenMs('a');
    limiter.whenMs('a');
    expect(limiter.whenMs('b')).toBe(100);
    expect(limiter.whenMs('a')).toBe(400);
    limiter.forget('a');
    expect(limiter.failures('a')).toBe(0);
    expect(limiter.whenMs('a')).toBe(100);
    expect(limiter.failures('b')).toBe(1);
  });

  it('does not overflow after very many failures', () => {
    const limiter = new ExponentialFailureRateLimiter<string>({ baseMs: 100, maxMs: 5_000, random: () => 0 });
    let last = 0;
    for (let i = 0; i < 2_000; i += 1) last = limiter.whenMs('a');
    expect(last).toBe(5_000);
  });

  it.each([0.2, 0.5, 1])('keeps jitter %s within [d(1 - jitter), d] over many draws, at random 0 and near 1', (jitter) => {
    const bounds = (failures: number): [number, number] => {
      const d = Math.min(60_000, 1_000 * 2 ** failures);
      return [d * (1 - jitter), d];
    };
    const zero = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, jitter, random: () => 0 });
    const one = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, jitter, random: () => ALMOST_ONE });
    const seeded = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, jitter, random: seededRandom(3) });
    for (let failures = 0; failures < 10; failures += 1) {
      const [low, high] = bounds(failures);
      expect(zero.whenMs('k')).toBe(high);
      const nearOne = one.whenMs('k');
      expect(nearOne).toBeGreaterThanOrEqual(low);
      expect(nearOne).toBeLessThan(low + 1e-6 * high + 1e-9);
      for (let i = 0; i < 200; i += 1) {
        const key = `k${i}`;
        for (let f = 0; f < failures; f += 1) seeded.whenMs(key);
        const delay = seeded.whenMs(key);
        expect(delay).toBeGreaterThanOrEqual(low);
        expect(delay).toBeLessThanOrEqual(high);
        seeded.forget(key);
      }
    }
  });

  it('uses a jitter of 20% by default and clamps a jitter outside [0, 1]', () => {
    const byDefault = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, random: () => ALMOST_ONE });
    expect(byDefault.whenMs('a')).toBeCloseTo(800, 6);
    const negative = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, jitter: -1, random: () => ALMOST_ONE });
    expect(negative.whenMs('a')).toBe(1_000);
    const huge = new ExponentialFailureRateLimiter<string>({ baseMs: 1_000, maxMs: 60_000, jitter: 5, random: () => ALMOST_ONE });
    expect(huge.whenMs('a')).toBeGreaterThanOrEqual(0);
  });
});

describe('MaxOfRateLimiter', () => {
  class Fixed implements RateLimiter<string> {
    calls = 0;
    forgotten: string[] = [];
    constructor(private readonly delays: number[]) {}
    whenMs(): number {
      const d = this.delays[Math.min(this.calls, this.delays.length - 1)]!;
      this.calls += 1;
      return d;
    }
    forget(key: string): void {
      this.forgotten.push(key);
    }
    failures(): number {
      return this.calls;
    }
  }

  it('takes the longest delay of its limiters, and counts a failure on each', () => {
    const a = new Fixed([10, 500, 20]);
    const b = new Fixed([300, 40, 50]);
    const max = new MaxOfRateLimiter<string>([a, b]);
    expect([max.whenMs('k'), max.whenMs('k'), max.whenMs('k')]).toEqual([300, 500, 50]);
    expect(a.calls).toBe(3);
    expect(b.calls).toBe(3);
  });

  it('forgets on every limiter and reports the most failures', () => {
    const exp = new ExponentialFailureRateLimiter<string>({ baseMs: 100, maxMs: 10_000, random: () => 0 });
    const fixed = new Fixed([250]);
    const max = new MaxOfRateLimiter<string>([exp, fixed]);
    expect(max.whenMs('k')).toBe(250);
    expect(max.whenMs('k')).toBe(250);
    expect(max.whenMs('k')).toBe(400);
    expect(max.failures('k')).toBe(3);
    max.forget('k');
    expect(fixed.forgotten).toEqual(['k']);
    expect(exp.failures('k')).toBe(0);
  });

  it('never gives a negative delay, even with no limiters', () => {
    expect(new MaxOfRateLimiter<string>([]).whenMs('k')).toBe(0);
    expect(new MaxOfRateLimiter<string>([new Fixed([-5])]).whenMs('k')).toBe(0);
  });
});
