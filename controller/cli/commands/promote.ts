/**
 * `fleetsync promote`: a stepped rollout waiting out the pause after a step goes on now (Argo Rollouts' promote).
 * The controller owns the status, so the request goes in the spec (rollout.promote names the revision, the step
 * and the rollout's start) like any change: conditional on the generation read, and recorded in history with who
 * asked.
 */
import type { Command } from 'commander';
import type { Session } from '../session.ts';
import type { FleetRecord, Store } from '../../ports/store.ts';
import type { Clock } from '../../ports/clock.ts';
import { stepLabel } from '../../../state/steps.ts';
import { changeOptions, example, fleetArgument, type ChangeOptions } from '../args.ts';
import { OperationError } from '../cliErrors.ts';
import { readFleet, requesterFrom, writeChange, type Requester } from '../specChange.ts';

export type PromoteOutcome = { promoted: true; message: string; historyWarning?: string } | { promoted: false; message: string };

/**
 * Promotes the step `current` is at, when it has a pause to skip. A fleet with no stepped rollout under way
 * throws OperationError; with `lenient` (resume asks) it is answered with promoted: false, and only a pause
 * under way is ended.
 */
export async function promote(args: {
  store: Store; clock: Clock; current: FleetRecord; requester: Requester; lenient?: boolean;
}): Promise<PromoteOutcome> {
  const { store, current } = args;
  const fleet = current.name;
  const steps = current.spec.rollout.steps;
  const refuse = (message: string): PromoteOutcome => {
    if (args.lenient === true) return { promoted: false, message };
    throw new OperationError(message);
  };
  if (!steps) return refuse(`fleet ${fleet} has no rollout.steps, so no step pause to promote: add steps with \`fleetsync fleet apply\`, or use \`fleetsync resume ${fleet}\` for a paused rollout`);
  const rollout = (await store.getStatus(fleet))?.rollout;
  const step = rollout?.step;
  if (!rollout || !step || rollout.revision !== current.spec.revision || rollout.finishedAtMs !== undefined) {
    return refuse(`fleet ${fleet} has no stepped rollout of ${current.spec.revision} under way (see \`fleetsync status ${fleet}\`): nothing to promote`);
  }
  const label = stepLabel(step);
  const pauseSeconds = steps[step.index]?.pauseSeconds ?? 0;
  const waiting = step.pauseUntilMs !== undefined && step.pauseUntilMs > args.clock.nowMs();
  const ahead = step.doneAtMs === undefined && step.index < step.count - 1 && pauseSeconds > 0;
  // resume (lenient) only ends a pause under way: it does not skip one still to come
  if (!waiting && (!ahead || args.lenient === true)) {
    return { promoted: false, message: `fleet ${fleet} is at ${label}, which has no pause to skip: nothing to promote` };
  }
  const wanted = { revision: current.spec.revision, step: step.index + 1, rolloutStartedAtMs: rollout.startedAtMs };
  const asked = current.spec.rollout.promote;
  if (asked?.revision === wanted.revision && asked.step === wanted.step && asked.rolloutStartedAtMs === wanted.rolloutStartedAtMs) {
    return { promoted: false, message: `fleet ${fleet}: ${label} is promoted already; the controller goes on when it reads the spec` };
  }
  const what = waiting ? `the pause after ${label} ends now` : `${label} goes on to the next step without its ${pauseSeconds}s pause`;
  const result = await writeChange({
    store, clock: args.clock, current, requester: args.requester,
    change: {
      spec: { ...current.spec, rollout: { ...current.spec.rollout, promote: wanted } },
      event: { type: 'promote', revision: current.spec.revision, message: `promoted: ${what}` },
    },
  });
  return {
    promoted: true, message: `fleet ${fleet} promoted: ${what} (generation ${result.record.generation})`,
    ...(result.historyWarning ? { historyWarning: result.historyWarning } : {}),
  };
}

export function registerPromote(program: Command, session: Session): void {
  const command = program.command('promote')
    .description('a stepped rollout paused after a step goes on to the next one now (also skips the pause of the step running)')
    .addArgument(fleetArgument());
  example(changeOptions(command), 'fleetsync promote web-prod --reason "canary error rates are fine"')
    .action(async (fleet: string, options: ChangeOptions, cmd: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const { store } = await session.open(cmd);
      const current = await readFleet(store, fleet);
      const outcome = await promote({ store, clock: session.io.clock, current, requester });
      session.out(outcome.message);
      if (outcome.promoted && outcome.historyWarning) session.err(`warning: ${outcome.historyWarning}`);
      session.exitCode = 0;
    });
}
