/** The leader elector alone, on a virtual clock and the in-memory store. */
import { describe, expect, it } from 'vitest';
import { LeaderElector } from '../../controller/leader.ts';
import { FairShare } from '../../controller/fairShare.ts';
import { silentLogger } from '../../controller/log.ts';
import type { Lease } from '../../controller/ports/store.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';

const settings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };

describe('LeaderElector', () => {
  it('a lease that arrives after shutdown began is not led, and is released', async () => {
    const clock = new VirtualClock(0);
    const store = new MemoryStore();
    const abort = new AbortController();
    let answer: (() => void) | null = null;
    const acquire = store.acquireLease.bind(store);
    // the store answers the acquire only after the process was told to stop
    store.acquireLease = (args) => new Promise<Lease | null>((resolve, reject) => {
      answer = () => {
        void acquire(args).then(resolve, reject);
      };
    });
    const elector = new LeaderElector({
      store, fleet: 'web', holder: 'p1', clock, random: seededRandom(1), settings, log: silentLogger,
    });
    const led: boolean[] = [];
    let finished = false;
    const run = elector.run(abort.signal, async (_lease, signal) => {
      led.push(signal.aborted);
      if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    }).finally(() => {
      finished = true;
    });

    await clock.run({ untilMs: 1_000, done: () => answer !== null });
    abort.abort(new Error('shutting down'));
    answer!();
    expect(await clock.run({ untilMs: 60_000, done: () => finished })).toBe(true);
    await run;
    // if it led at all, it was told at once to stop
    expect(led.every((aborted) => aborted)).toBe(true);
    const lease = await store.getLease('web');
    expect(lease === null || lease.holder === '').toBe(true);
  });

  it('a process takes its fair share of free leases at once, and a fleet left free for a whole lease after that', async () => {
    const clock = new VirtualClock(0);
    const store = new MemoryStore();
    const abort = new AbortController();
    const fleets = ['f1', 'f2', 'f3', 'f4'];
    const share = new FairShare({ holder: 'p1', clock, orphanAfterMs: settings.leaseDurationMs });
    share.setFleets(fleets.length);
    // p2 is live but takes nothing (as if it could not reach the store for its leases)
    share.setMembers([{ holder: 'p1', expiresAtMs: 60_000 }, { holder: 'p2', expiresAtMs: 60_000 }]);
    const takenAt = new Map<string, number>();
    const runs = fleets.map((fleet) => new LeaderElector({
      store, fleet, holder: 'p1', clock, random: seededRandom(1), settings, log: silentLogger, share,
      onLeaseChange: (isHeld) => {
        share.leaseChanged(fleet, isHeld);
        if (isHeld) takenAt.set(fleet, clock.nowMs());
      },
    }).run(abort.signal, (_lease, signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))));

    await clock.run({ untilMs: settings.leaseDurationMs - 1 });
    // its share, ceil(4 / 2), at once; not one more while p2 might take them
    expect([...takenAt.values()]).toEqual([0, 0]);
    await clock.run({ untilMs: 10_000, done: () => takenAt.size === 4 });
    const late = [...takenAt.values()].slice(2);
    for (const atMs of late) {
      expect(atMs).toBeGreaterThanOrEqual(settings.leaseDurationMs);
      expect(atMs).toBeLessThanOrEqual(settings.leaseDurationMs + settings.retryPeriodMs);
    }
    abort.abort();
    await clock.run({ untilMs: 20_000 });
    await Promise.all(runs);
  });

  it('stops acting at the last renewal plus the renew deadline, even while a renew call hangs', async () => {
    const clock = new VirtualClock(0);
    const store = new MemoryStore();
    const abort = new AbortController();
    // every renew hangs (a store that stopped answering): it only returns after 30 s
    const renew = store.renewLease.bind(store);
    store.renewLease = async (args) => {
      await clock.sleep(30_000);
      return renew(args);
    };
    let leadStartMs: number | null = null;
    let stoppedActingMs: number | null = null;
    const run = new LeaderElector({
      store, fleet: 'web', holder: 'p1', clock, random: seededRandom(1), settings, log: silentLogger,
    }).run(abort.signal, async (_lease, signal) => {
      leadStartMs = clock.nowMs();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      stoppedActingMs = clock.nowMs();
    });
    await clock.run({ untilMs: 20_000, done: () => stoppedActingMs !== null });
    abort.abort();
    await clock.run({ untilMs: 120_000 });
    await run;
    expect(leadStartMs).toBe(0);
    expect(stoppedActingMs).not.toBeNull();
    expect(stoppedActingMs!).toBeLessThanOrEqual(settings.renewDeadlineMs);
  });

  it('leads again at once when a late renew left the lease live in its own name (F14), instead of waiting it out', async () => {
    const clock = new VirtualClock(0);
    const store = new MemoryStore();
    const abort = new AbortController();
    // the second renew is held (a paused process) and goes out late, renewing the lease from then on
    const renew = store.renewLease.bind(store);
    let renews = 0;
    store.renewLease = async (args) => {
      renews += 1;
      if (renews !== 2) return renew(args);
      await clock.sleep(settings.renewDeadlineMs + 500);
      return renew({ ...args, nowMs: clock.nowMs() });
    };
    const terms: Array<{ token: number; fromMs: number; toMs: number | null }> = [];
    const run = new LeaderElector({
      store, fleet: 'web', holder: 'p1', clock, random: seededRandom(1), settings, log: silentLogger,
    }).run(abort.signal, async (lease, signal) => {
      const term = { token: lease.token, fromMs: clock.nowMs(), toMs: null as number | null };
      terms.push(term);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      term.toMs = clock.nowMs();
    });
    await clock.run({ untilMs: 20_000, done: () => terms.length >= 2 });
    abort.abort();
    await clock.run({ untilMs: 60_000 });
    await run;
    expect(terms.length).toBeGreaterThanOrEqual(2);
    expect(terms[1]!.token).toBeGreaterThan(terms[0]!.token);
    // from stepping down to leading again: the late renew's return, not the lease's expiry after it
    const stepDownMs = terms[0]!.toMs!;
    const lateRenewReturnedMs = settings.retryPeriodMs * 2 + settings.renewDeadlineMs + 500;
    expect(stepDownMs).toBeLessThan(lateRenewReturnedMs);
    expect(terms[1]!.fromMs - lateRenewReturnedMs).toBeLessThan(settings.retryPeriodMs);
  });
});
