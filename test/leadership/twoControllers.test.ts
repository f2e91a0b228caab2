/**
 * Two controller processes on one table (DynamoStore on dynalite), real clock, short leases: they never both
 * act on a fleet, fleets spread over them, and a killed leader's fleets are taken over without a second
 * command for any attempt.
 */
import { describe, expect, it } from 'vitest';
import {
  LEADER, SETTINGS, SimFleets, clock, commandsPerAttempt, converged, leaseViolations, putRevision, sleep,
  startController, suiteTable, waitFor, type SendRecord,
} from './harness.ts';

const suite = suiteTable('fleet');
const { running, fleetName } = suite;

async function allConverged(sims: SimFleets, fleets: string[], revision: string): Promise<boolean> {
  for (const fleet of fleets) if (!(await converged(suite.table, sims, fleet, revision))) return false;
  return true;
}

describe('two controllers on one table', () => {
  it('spread 4 fleets over both processes, and never both act on one', async () => {
    const sims = new SimFleets();
    const fleets = [fleetName(), fleetName(), fleetName(), fleetName()];
    for (const fleet of fleets) {
      sims.add(fleet, { hosts: 4 });
      await putRevision(suite.table.observer, fleet, 'rev-0');
    }
    const sends: SendRecord[] = [];
    const a = startController({ holder: 'controller-a', table: suite.table, sims, all: running, sends, fleets });
    const b = startController({ holder: 'controller-b', table: suite.table, sims, all: running, sends, fleets });

    await waitFor('every fleet to have a leader', () => a.manager.leases().length + b.manager.leases().length === fleets.length);
    await waitFor('every fleet at rev-0', () => allConverged(sims, fleets, 'rev-0'));
    const ledByA = a.manager.leases();
    const ledByB = b.manager.leases();
    expect(ledByA.length, `a leads ${ledByA.join(', ')}; b leads ${ledByB.join(', ')}`).toBeGreaterThan(0);
    expect(ledByB.length, `a leads ${ledByA.join(', ')}; b leads ${ledByB.join(', ')}`).toBeGreaterThan(0);
    expect([...ledByA, ...ledByB].sort()).toEqual([...fleets].sort());
    for (const fleet of fleets) {
      const lease = await suite.table.observer.getLease(fleet);
      expect(lease?.holder).toBe(ledByA.includes(fleet) ? 'controller-a' : 'controller-b');
    }

    for (const fleet of fleets) await putRevision(suite.table.observer, fleet, 'rev-1');
    await waitFor('every fleet at rev-1', () => allConverged(sims, fleets, 'rev-1'));

    // both processes started commands, each only on the fleets it led
    expect(new Set(sends.map((s) => s.holder))).toEqual(new Set(['controller-a', 'controller-b']));
    expect(sends.filter((s) => s.mode === 'sync').length).toBeGreaterThanOrEqual(fleets.length * 2);
    expect(leaseViolations(sends)).toEqual([]);
    expect(sims.duplicateSends()).toBe(0);
  });

  it('a killed leader is replaced within lease duration plus one resync, with no second command for an attempt', async () => {
    const sims = new SimFleets();
    const fleet = fleetName();
    // commands outlive the kill, so the new leader finds them still running and must follow, not resend
    sims.add(fleet, { hosts: 6, syncMs: 2_500 });
    await putRevision(suite.table.observer, fleet, 'rev-0', 3);
    const sends: SendRecord[] = [];
    const first = startController({ holder: 'controller-a', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('a leader', () => first.manager.leases().length === 1);
    const second = startController({ holder: 'controller-b', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the fleet at rev-0', () => converged(suite.table, sims, fleet, 'rev-0'));

    await putRevision(suite.table.observer, fleet, 'rev-1', 3);
    await waitFor('the first sync command', () => sends.some((s) => s.mode === 'sync' && s.holder === 'controller-a'));
    await sleep(200);
    const [leader, survivor] = first.manager.leases().includes(fleet) ? [first, second] : [second, first];
    expect(leader.holder).toBe('controller-a');
    const running1 = sims.group(fleet).world.live().filter((i) => i.syncing > 0).length;
    expect(running1).toBe(3);

    const killedAtMs = clock.nowMs();
    leader.kill();
    await waitFor('the survivor to lead', () => survivor.manager.leases().includes(fleet), 5_000);
    await waitFor('the survivor to act on the fleet', () => survivor.statusWrites.some((w) => w.fleet === fleet && w.atMs > killedAtMs), 5_000);
    const firstActMs = survivor.statusWrites.find((w) => w.fleet === fleet && w.atMs > killedAtMs)!.atMs;
    const takeoverMs = firstActMs - killedAtMs;
    expect(takeoverMs).toBeLessThanOrEqual(LEADER.leaseDurationMs + SETTINGS.resyncMs);
    // it waited for the lease to run out: the dead leader released nothing
    const lease = await suite.table.observer.getLease(fleet);
    expect(lease?.holder).toBe(survivor.holder);

    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));
    // the three hosts whose commands were running at the kill were followed, not sent a second command
    const syncs = sends.filter((s) => s.mode === 'sync');
    const hostsSynced = syncs.flatMap((s) => s.instanceIds);
    expect(hostsSynced.length).toBe(6);
    expect(new Set(hostsSynced).size).toBe(6);
    expect(syncs.filter((s) => s.holder === survivor.holder).flatMap((s) => s.instanceIds)).toHaveLength(3);
    expect(sends.filter((s) => s.holder === leader.holder && s.atMs >= killedAtMs)).toEqual([]);
    expect([...commandsPerAttempt(sends).values()].every((n) => n === 1)).toBe(true);
    expect(sims.duplicateSends()).toBe(0);
    expect(leaseViolations(sends)).toEqual([]);
  });

  it('a leader cut off from the table stops acting before the other takes over', async () => {
    const sims = new SimFleets();
    const fleet = fleetName();
    sims.add(fleet, { hosts: 8 });
    await putRevision(suite.table.observer, fleet, 'rev-0', 2);
    const sends: SendRecord[] = [];
    let aReachesTable = true;
    const a = startController({
      holder: 'controller-a', table: suite.table, sims, all: running, sends, fleets: [fleet], storeReachable: () => aReachesTable,
    });
    await waitFor('a to lead', () => a.manager.leases().length === 1);
    const b = startController({ holder: 'controller-b', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the fleet at rev-0', () => converged(suite.table, sims, fleet, 'rev-0'));

    await putRevision(suite.table.observer, fleet, 'rev-1', 2);
    await waitFor('a to start syncing', () => sends.some((s) => s.mode === 'sync' && s.holder === 'controller-a'));
    // a keeps running and reaching its hosts, but no longer the table: it cannot renew
    const cutAtMs = clock.nowMs();
    aReachesTable = false;
    await waitFor('a to step down', () => a.manager.leases().length === 0, 5_000);
    const steppedDownMs = clock.nowMs() - cutAtMs;
    expect(steppedDownMs).toBeLessThan(LEADER.leaseDurationMs);
    await waitFor('b to lead', () => b.manager.leases().includes(fleet), 5_000);
    aReachesTable = true;

    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));
    expect(sends.filter((s) => s.holder === 'controller-b' && s.mode === 'sync').length).toBeGreaterThan(0);
    expect(leaseViolations(sends)).toEqual([]);
    expect(sims.duplicateSends()).toBe(0);
  });
});
