/**
 * A new leader's claim of the fleet's items on DynamoStore (dynalite): an attempt a deposed leader (a zombie,
 * paused past its lease) records just before the claim is kept and followed, not overwritten and sent again;
 * after the claim the zombie's writes are refused.
 */
import { describe, expect, it } from 'vitest';
import { StaleTokenError } from '../../controller/errors.ts';
import type { Store } from '../../controller/ports/store.ts';
import type { HostRecord } from '../../state/host.ts';
import {
  LEADER, SimFleets, clock, converged, putRevision, sleep, startController, suiteTable, waitFor, type SendRecord,
} from './harness.ts';

const suite = suiteTable('claim');
const { running, fleetName } = suite;

describe('a new leader claims the fleet', () => {
  it('keeps and follows an attempt a zombie leader recorded just before the claim, and refuses its writes after', async () => {
    const sims = new SimFleets();
    const fleet = fleetName();
    const group = sims.add(fleet, { hosts: 2, syncMs: 1_500 });
    await putRevision(suite.table.observer, fleet, 'rev-0', 1);
    const sends: SendRecord[] = [];
    const first = startController({ holder: 'controller-1', table: suite.table, sims, all: running, sends, fleets: [fleet] });
    await waitFor('the fleet at rev-0', () => converged(suite.table, sims, fleet, 'rev-0'));
    const oldToken = (await suite.table.observer.getLease(fleet))!.token;
    first.kill();
    await putRevision(suite.table.observer, fleet, 'rev-1', 1);
    await sleep(LEADER.leaseDurationMs);

    // The zombie wakes up as the new leader starts: it records an attempt for one host under its old token and
    // sends its command.
    const zombieStore = suite.table.newStore();
    const { hosts } = await suite.table.observer.listHosts(fleet);
    const target = hosts[0]!;
    const attemptId = `a-${oldToken}-999`;
    const zombie = async (): Promise<void> => {
      const record: HostRecord = {
        ...target, state: 'syncing',
        context: {
          ...target.context, desiredRevision: 'rev-1', targetRevision: 'rev-1', attempt: 1, attemptId, commandId: null,
          deadlineMs: clock.nowMs() + 30_000, sinceMs: clock.nowMs(),
        },
      };
      await zombieStore.putHost({ fleet, host: record, token: oldToken });
      await sims.commands().send({
        fleet, attemptId, mode: 'sync', instanceIds: [target.instanceId], timeoutSeconds: 30,
        params: { source: 's3://fleetsync-test/app', revision: 'rev-1', destination: '/var/www/app', strategy: 'release', excludes: [], links: {}, keepReleases: 5 },
      });
    };
    let zombieActed = false;
    const actFirst = (store: Store): Store => new Proxy(store, {
      get(obj, prop, receiver) {
        const value: unknown = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function' || !['listHosts', 'claimFleet'].includes(String(prop))) {
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(obj) : value;
        }
        return async (...args: unknown[]) => {
          const out = prop === 'listHosts' ? await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args) : undefined;
          if (!zombieActed) {
            zombieActed = true;
            await zombie();
          }
          return prop === 'listHosts' ? out : (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        };
      },
    });
    startController({ holder: 'controller-2', table: suite.table, sims, all: running, sends, fleets: [fleet], wrapStore: actFirst });
    await waitFor('the fleet at rev-1', () => converged(suite.table, sims, fleet, 'rev-1'));

    expect(zombieActed).toBe(true);
    const secondSyncs = sends.filter((s) => s.holder === 'controller-2' && s.mode === 'sync').flatMap((s) => s.instanceIds);
    // the zombie's host was followed to the end of its command, not sent a second one
    expect(secondSyncs).not.toContain(target.instanceId);
    expect(secondSyncs).toHaveLength(1);
    expect(group.world.maxRunningPerHost).toBe(1);
    await expect(zombieStore.putHost({ fleet, host: target, token: oldToken })).rejects.toBeInstanceOf(StaleTokenError);
  });
});
