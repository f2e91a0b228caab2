/** Port faults (issue 13): what each fault kind does to a call, and that faults stop at the plan's stop. */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { PortFaults } from '../../controller/sim/portFaults.ts';
import { PausableClock } from '../../controller/sim/pausableClock.ts';
import { randomFaultPlan, quietAtMs, type FaultPlan, type PortFaultKind } from '../../controller/sim/faultPlan.ts';
import { ThrottledError, TransientError } from '../../controller/errors.ts';

function counter() {
  const port = {
    calls: 0,
    bump(): Promise<number> {
      port.calls += 1;
      return Promise.resolve(port.calls);
    },
  };
  return port;
}

function plan(kind: PortFaultKind, fields: Partial<FaultPlan> = {}): FaultPlan {
  return {
    seed: 1, stopAtMs: 60_000, portFaultRate: 1, portFaults: { store: [kind] }, controllers: 1, drain: false, syncSpread: 0,
    events: [], ...fields,
  };
}

async function callOnce(kind: PortFaultKind) {
  const clock = new VirtualClock(0);
  const faults = new PortFaults(plan(kind), clock, () => seededRandom(3));
  faults.start();
  const port = counter();
  const call = faults.wrap(port, 'store').bump().then(() => null, (e: unknown) => e);
  await clock.run({ untilMs: 20_000 });
  return { error: await call, calls: port.calls, counts: faults.countsObject(), clock };
}

describe('port faults', () => {
  it('throttled and error calls fail without taking effect', async () => {
    const throttled = await callOnce('throttled');
    expect(throttled.error).toBeInstanceOf(ThrottledError);
    expect(throttled.calls).toBe(0);
    expect(throttled.counts).toEqual({ throttled: 1 });
    const error = await callOnce('error');
    expect(error.error).toBeInstanceOf(TransientError);
    expect(error.calls).toBe(0);
  });

  it('an ambiguous call takes effect and still fails', async () => {
    const r = await callOnce('ambiguous');
    expect(r.error).toBeInstanceOf(TransientError);
    expect((r.error as Error).message).toContain('took effect');
    expect(r.calls).toBe(1);
  });

  it('a timed-out call fails after a while; some took effect, some did not', async () => {
    const outcomes = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const clock = new VirtualClock(0);
      const faults = new PortFaults(plan('timeout'), clock, () => seededRandom(seed));
      faults.start();
      const port = counter();
      let failedAtMs = -1;
      const call = faults.wrap(port, 'store').bump().catch(() => {
        failedAtMs = clock.nowMs();
      });
      await clock.run({ untilMs: 20_000 });
      await call;
      expect(failedAtMs).toBeGreaterThanOrEqual(1_000);
      outcomes.add(port.calls);
    }
    expect([...outcomes].sort()).toEqual([0, 1]);
  });

  it('calls before the start and from the stop on go through untouched; ports without faults are not wrapped', async () => {
    const clock = new VirtualClock(0);
    const faults = new PortFaults(plan('error', { stopAtMs: 5_000 }), clock, () => seededRandom(1));
    const port = counter();
    const wrapped = faults.wrap(port, 'store');
    await expect(wrapped.bump()).resolves.toBe(1);
    faults.start();
    await expect(wrapped.bump()).rejects.toBeInstanceOf(TransientError);
    await clock.run({ untilMs: 5_000 });
    await expect(wrapped.bump()).resolves.toBe(2);
    expect(faults.wrap(port, 'fleet')).toBe(port);
  });

  it('a frozen process runs nothing until it wakes, then its overdue timers in order and its held calls', async () => {
    const clock = new VirtualClock(0);
    const own = new PausableClock(clock);
    const seen: string[] = [];
    own.setTimer(1_000, () => seen.push(`a@${clock.nowMs()}`));
    own.setTimer(3_000, () => seen.push(`b@${clock.nowMs()}`));
    own.pause(5_000);
    const port = counter();
    const held = own.gate(port).bump().then(() => seen.push(`call@${clock.nowMs()}`));
    await clock.run({ untilMs: 4_000 });
    expect(seen).toEqual([]);
    await clock.run({ untilMs: 10_000 });
    await held;
    expect(seen).toEqual(['a@5000', 'b@5000', 'call@5000']);
  });

  it('a plan drawn from a seed is the same every time, stops within half the lower bound, and ends its events after', () => {
    const shape = { lowerBoundMs: 240_000, leaseDurationMs: 15_000 };
    expect(randomFaultPlan(7, shape)).toEqual(randomFaultPlan(7, shape));
    for (let seed = 0; seed < 200; seed++) {
      const p = randomFaultPlan(seed, shape);
      expect(p.stopAtMs).toBeLessThanOrEqual(120_000);
      expect(p.events.every((e) => e.atMs < p.stopAtMs)).toBe(true);
      expect(quietAtMs(p)).toBeGreaterThanOrEqual(p.stopAtMs);
      for (const e of p.events) if (e.kind === 'zombie') expect(e.forMs).toBeGreaterThan(shape.leaseDurationMs);
    }
  });
});
