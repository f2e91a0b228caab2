import type { Command } from 'commander';
import type { HistoryType, Store } from '../../ports/store.ts';
import type { FleetRecord } from '../../ports/store.ts';
import type { Session } from '../session.ts';
import { changeOptions, example, fleetArgument, type ChangeOptions } from '../args.ts';
import { OperationError } from '../cliErrors.ts';
import { isoTime } from '../output.ts';
import { readFleet, requesterFrom, writeChange } from '../specChange.ts';

/** Events that set the desired revision. */
const SETS_REVISION: ReadonlySet<HistoryType> = new Set<HistoryType>(['deploy', 'rollback', 'autoRollback', 'apply']);
/** How far back history is searched for the previous revision. */
const HISTORY_DEPTH = 500;

/**
 * The revision to go back to: the last one the whole fleet reached when the rollout has not reached the desired
 * one; else the revision desired before the last change of it, per history.
 */
export async function previousRevision(store: Store, current: FleetRecord): Promise<{ revision: string; why: string } | null> {
  const desired = current.spec.revision;
  // an unreadable status must not block a rollback: history still knows
  const status = await store.getStatus(current.name).catch(() => null);
  if (status?.revision && status.revision !== desired) {
    return { revision: status.revision, why: 'the last revision the whole fleet reached' };
  }
  const events = await store.listHistory(current.name, { limit: HISTORY_DEPTH });
  const before = events.find((e) => SETS_REVISION.has(e.type) && e.revision !== undefined && e.revision !== desired);
  if (!before?.revision) return null;
  return { revision: before.revision, why: `the revision desired before (${before.type} at ${isoTime(before.atMs)})` };
}

export function registerRollback(program: Command, session: Session): void {
  const rollback = program.command('rollback')
    .description('set the desired revision back to the previous one: the last revision the whole fleet reached, '
      + 'else the one before the last deploy')
    .addArgument(fleetArgument());
  example(changeOptions(rollback), 'fleetsync rollback web-prod --reason "500s after release 42"')
    .action(async (fleet: string, options: ChangeOptions, command: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const { store } = await session.open(command);
      const current = await readFleet(store, fleet);
      const target = await previousRevision(store, current);
      if (!target) {
        throw new OperationError(`fleet ${fleet} has no earlier revision to roll back to (it has only ever wanted ${current.spec.revision}):`
          + ` deploy one with \`fleetsync deploy ${fleet} REVISION\``);
      }
      const from = current.spec.revision;
      const result = await writeChange({
        store, clock: session.io.clock, current, requester,
        change: {
          spec: { ...current.spec, revision: target.revision },
          event: { type: 'rollback', revision: target.revision, message: `rollback from ${from} to ${target.revision}, ${target.why}` },
        },
      });
      session.out(`fleet ${fleet}: rolling back from ${from} to ${target.revision} (${target.why}), generation ${result.record.generation}`);
      if (current.spec.rollout.paused) session.out(`note: fleet ${fleet} is paused: run \`fleetsync resume ${fleet}\` to start the rollout`);
      if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      session.exitCode = 0;
    });
}
