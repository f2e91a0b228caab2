/**
 * A controller restarted in the middle of a rollout on DynamoStore (dynalite) resumes from the table and
 * converges without a second command for a running attempt, including when it died between sending a
 * command and recording its id.
 */
import { describe, expect, it } from 'vitest';
import type { Commands } from '../../controller/ports/commands.ts';
import {
  SimFleets, clock, commandsPerAttempt, converged, leaseViolations, putRevision, startController, suiteTable, waitFor,
  type Controller, type SendRecord,
} from './harness.ts';

const suite = suiteTable('restart');
const { running, fleetName } = suite;

const ADOPTED = 'adopted the command of an attempt recorded before a restart';

/** Each host got exactly one sync command over the whole rollout, and no attempt reached a host twice. */
function oneSyncPerHost(sends: SendRecord[], hosts: string[]): void {
  const perHost = new Map<string, number>();
  for (const s of sends) if (s.mode === 'sync') for (const id of s.instanceIds) perHost.set(id, (perHost.get(id) ?? 0) + 1);
  expect(Object.fromEntries(perHost)).toEqual(Object.fromEntries(hosts.map((id) => [id, 1])));
  expect([...commandsPerAttempt(sends).values()].every((n) => n === 1)).toBe(true);
}

/** A new fleet of `hostCount` hosts brought to rev-0 by controller-1, with rev-1 just asked for. */
async function rev1UnderFirstController(hostCount: number) {
  const sims = new SimFleets();
  const fleet = fleetName();
  const group = sims.add(fleet, { hosts: hostCount, syncMs: 800 });
  const hosts = group.world.live().map((i) => i.instanceId);
  await putRevision(suite.table.observer, fleet, 'rev-0', 2);
  const sends: SendRecord[] = [];
  const first = startController({ holder: 'controller-1', table: suite.table, sims, all: running, sends, fleets: [fleet] });
  await waitFor('the fleet at rev-0', () => converged(suite.table, sims, fleet, 'rev-0'));
  await putRevision(suite.table.observer, fleet, 'rev-1', 2);
  return { sims, fleet, group, hosts, sends, first };
}

describe('a controller restart mid-rollout on DynamoStore', () => {
  it('adopts a command sent just before the crash whose id was never recorded (findByAttempt)', async () => {
    const sims = new SimFleets();
    const fleet = fleetName();
    const group = sims.add(fleet, { hosts: 6 });
    const hosts = group.world.live().map((i) => i.instanceId);
    await putRevision(suite.table.observer, fleet, 'rev-0', 3);
    const sends: SendRecord[] = [];

    // The first sync command reaches the hosts; the process dies before it can store the command id.
    let crashedAttempt: string | null = null;
    let crashedCommand: string | null = null;
    const crashAfterFirstSync = (inner: Commands, self: () => Controller): Commands => ({
      send: async (args) => {
        const out = await inner.send(args);
        if (args.mode === 'sync' && crashedAttempt === null) {
          crashedAttempt = args.attemptId;
          crashedCommand = out.commandId;
          self().kill();
        }
        return out;
      },
      results: (commandId, signal) => inner.results(commandId, signal),
      cancel: (args) => inner.cancel(args),
      findByAttempt: (args) => inner.findByAttempt(args),
    });
    const first = startController({
      holder: 'controller-1', table: suite.table, sims, all: running, sends, fleets: [fleet], wrapCommands: crashAfterFirstSync,
    });
    await waitFor('the fleet at rev-0', () => converged(suite.table, sims, fleet, 'rev-0'));
    await putRevision(suite.table.observer, fleet, 'rev-1', 3);
    await waitFor('the crash', () => first.dead);
    await first.done;

    // The table holds the crash window: attempts recorded, their command id not.
    const crashed = sends.find((s) => s.attemptId === crashedAttempt)!;
    expect(crashed.instanceIds).toHaveLength(3);
    const { hosts: stored } = await suite.table.observer.listHosts(fleet);
    const inWindow = stored.filter((h) => crashed.instanceIds.includes(h.instanceId));
    expect(inWindow.map((h) => [h.state, h.context.attemptId, h.context.commandId])).toEqual(
      crashed.instanceIds.map(() => ['syncing', crashedAttempt, null]));

    const second = startController({ holder: 'controller-2', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));

    const adopted = second.lines.filter((l) => l.msg === ADOPTED);
    expect(adopted.map((l) => l.instanceId).sort()).toEqual([...crashed.instanceIds].sort());
    expect(adopted.every((l) => l.attemptId === crashedAttempt && l.commandId === crashedCommand)).toBe(true);
    expect(sends.filter((s) => s.attemptId === crashedAttempt)).toHaveLength(1);
    oneSyncPerHost(sends, hosts);
    expect(sims.duplicateSends()).toBe(0);
    expect(leaseViolations(sends)).toEqual([]);
    const after = await suite.table.observer.listHosts(fleet);
    expect(after.hosts.every((h) => h.state === 'inSync' && h.context.reportedRevision === 'rev-1')).toBe(true);
  });

  it('a crash while commands run: the new process follows them and sends none twice', async () => {
    const { sims, fleet, group, hosts, sends, first } = await rev1UnderFirstController(8);

    // Mid-rollout: some hosts done, others with a recorded command still running.
    await waitFor('a second round of syncs with its command ids stored', async () => {
      if (sends.filter((s) => s.mode === 'sync').length < 2) return false;
      const { hosts: stored } = await suite.table.observer.listHosts(fleet);
      return stored.some((h) => h.state === 'syncing' && h.context.commandId !== null)
        && stored.some((h) => h.state === 'inSync' && h.context.reportedRevision === 'rev-1');
    });
    const runningAtCrash = group.world.live().filter((i) => i.syncing > 0).map((i) => i.instanceId);
    expect(runningAtCrash.length).toBeGreaterThan(0);
    const crashedAtMs = clock.nowMs();
    first.kill();
    await first.done;

    const second = startController({ holder: 'controller-2', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));
    // the commands running at the crash were each followed by the new process, not sent again
    const secondSyncs = sends.filter((s) => s.holder === second.holder && s.mode === 'sync').flatMap((s) => s.instanceIds);
    expect(secondSyncs.filter((id) => runningAtCrash.includes(id))).toEqual([]);
    expect(sends.filter((s) => s.holder === first.holder && s.atMs >= crashedAtMs)).toEqual([]);
    oneSyncPerHost(sends, hosts);
    expect(sims.duplicateSends()).toBe(0);
    expect(leaseViolations(sends)).toEqual([]);
  });

  it('a clean restart releases the lease: the new process resumes at once', async () => {
    const { sims, fleet, hosts, sends, first } = await rev1UnderFirstController(6);
    await waitFor('the first sync command', () => sends.some((s) => s.mode === 'sync'));
    await first.stop();
    const lease = await suite.table.observer.getLease(fleet);
    expect(lease === null || lease.holder === '').toBe(true);

    const stoppedAtMs = clock.nowMs();
    const second = startController({ holder: 'controller-2', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the new process to lead', () => second.manager.leases().includes(fleet), 2_000);
    // no waiting for a lease to run out: well under the 2 s lease
    expect(clock.nowMs() - stoppedAtMs).toBeLessThan(1_000);
    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));
    oneSyncPerHost(sends, hosts);
    expect(sims.duplicateSends()).toBe(0);
    expect(leaseViolations(sends)).toEqual([]);
  });
});
