/**
 * Every change the CLI makes: the spec is written first, conditional on the generation it was read at (a
 * concurrent change makes this one fail, never overwrite it), then the history event saying who asked and why.
 */
import type { Clock } from '../ports/clock.ts';
import type { FleetRecord, HistoryEvent, Store } from '../ports/store.ts';
import type { FleetSpec } from '../../state/spec.ts';
import { ConflictError } from '../errors.ts';
import { OperationError, UsageError } from './cliErrors.ts';

/** Who asks and why, from --actor / --reason. */
export interface Requester {
  actor: string;
  reason?: string;
}

// printable, no control characters: these end up in terminals and logs
const ACTOR = /^[^\p{Cc}]{1,128}$/u;
const REASON = /^[^\p{Cc}]{1,1000}$/u;

export function requesterFrom(options: { actor?: string; reason?: string }, defaultActor: () => string): Requester {
  const actor = options.actor ?? defaultActor();
  if (!ACTOR.test(actor)) {
    throw new UsageError(`--actor ${JSON.stringify(actor)} is not valid: use 1-128 printable characters (like alice@laptop)`);
  }
  if (options.reason !== undefined && !REASON.test(options.reason)) {
    throw new UsageError('--reason must be 1-1000 printable characters on one line (like "hotfix for ticket 123")');
  }
  return options.reason === undefined ? { actor } : { actor, reason: options.reason };
}

export function noSuchFleet(name: string): OperationError {
  return new OperationError(`there is no fleet named ${name}: see \`fleetsync fleet list\`, or create it with \`fleetsync fleet apply -f fleet.yaml\``);
}

export async function readFleet(store: Store, name: string): Promise<FleetRecord> {
  const record = await store.getFleet(name);
  if (!record) throw noSuchFleet(name);
  return record;
}

/** What a change wants written: the new spec and its event (the rest of the event is filled in here). */
export interface Change {
  spec: FleetSpec;
  event: Pick<HistoryEvent, 'type' | 'message'> & Partial<Pick<HistoryEvent, 'revision' | 'instanceId'>>;
}

export interface Changed {
  record: FleetRecord;
  event: HistoryEvent;
  /** set when the spec was written but its history event was not: the controller will record one */
  historyWarning?: string;
}

/**
 * Writes `change` over the spec read at `current.generation` (0: a new fleet). Throws OperationError when
 * someone else changed the fleet in between: the user reads the new state and decides again.
 */
export async function writeChange(args: {
  store: Store;
  clock: Clock;
  current: Pick<FleetRecord, 'name' | 'generation'>;
  change: Change;
  requester: Requester;
}): Promise<Changed> {
  const { store, current, change, requester } = args;
  let record: FleetRecord;
  try {
    record = await store.putFleetSpec({
      name: current.name,
      spec: change.spec,
      expectedGeneration: current.generation,
      nowMs: args.clock.nowMs(),
    });
  } catch (err) {
    if (err instanceof ConflictError) {
      const was = current.generation === 0 ? 'created' : 'changed';
      throw new OperationError(`fleet ${current.name} was ${was} by someone else while this command ran`
        + ` (it was at generation ${current.generation}): nothing was written, try again`, { cause: err });
    }
    throw err;
  }
  const event: HistoryEvent = {
    ...change.event,
    atMs: args.clock.nowMs(),
    actor: requester.actor,
    generation: record.generation,
    ...(requester.reason !== undefined ? { reason: requester.reason } : {}),
  };
  try {
    await store.appendHistory(current.name, event);
    return { record, event };
  } catch (err) {
    const problem = err instanceof Error ? err.message : String(err);
    return { record, event, historyWarning: `the change was written but its history event was not (${problem}): the controller records one for generation ${record.generation}` };
  }
}
