import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { changeOptions, example, fleetArgument, type ChangeOptions } from '../args.ts';
import { readFleet, requesterFrom, writeChange } from '../specChange.ts';
import { promote } from './promote.ts';

function register(program: Command, session: Session, paused: boolean): void {
  const name = paused ? 'pause' : 'resume';
  const command = program.command(name)
    .description(paused
      ? 'pause a fleet\'s rollout: no new syncs of in-service hosts start, running ones finish (new instances are still synced)'
      : 'resume a paused rollout (or, when only a step\'s pause holds it, promote it: see promote)')
    .addArgument(fleetArgument());
  example(changeOptions(command), `fleetsync ${name} web-prod --reason "${paused ? 'checking error rates' : 'error rates are fine'}"`)
    .action(async (fleet: string, options: ChangeOptions, cmd: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const { store } = await session.open(cmd);
      const current = await readFleet(store, fleet);
      if (!paused && !current.spec.rollout.paused && current.spec.rollout.steps) {
        // Running, but a stepped rollout may be waiting out a step's pause: resuming it is a promote.
        const outcome = await promote({ store, clock: session.io.clock, current, requester, lenient: true });
        if (outcome.promoted) {
          session.out(outcome.message);
          if (outcome.historyWarning) session.err(`warning: ${outcome.historyWarning}`);
          session.exitCode = 0;
          return;
        }
      }
      if (current.spec.rollout.paused === paused) {
        session.out(`fleet ${fleet} is already ${paused ? 'paused' : 'running'}: nothing to do`);
        session.exitCode = 0;
        return;
      }
      const result = await writeChange({
        store, clock: session.io.clock, current, requester,
        change: {
          spec: { ...current.spec, rollout: { ...current.spec.rollout, paused } },
          event: { type: name, revision: current.spec.revision, message: paused ? 'rollout paused' : 'rollout resumed' },
        },
      });
      session.out(`fleet ${fleet} ${paused ? 'paused' : 'resumed'} (generation ${result.record.generation})`);
      if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      session.exitCode = 0;
    });
}

export function registerPauseResume(program: Command, session: Session): void {
  register(program, session, true);
  register(program, session, false);
}
