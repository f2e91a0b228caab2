import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { changeOptions, example, fleetArgument, revisionArgument, type ChangeOptions } from '../args.ts';
import { OperationError } from '../cliErrors.ts';
import { readFleet, requesterFrom, writeChange } from '../specChange.ts';
import type { StoreContext } from '../storeContext.ts';
import type { ArtifactCheck } from '../../ports/artifacts.ts';
import { formatSize } from '../../../state/format.ts';

/** The revision's size for messages and history, when its manifest tells it. */
export function sizeOf(check: ArtifactCheck): string | undefined {
  return check.files !== undefined && check.bytes !== undefined ? formatSize({ files: check.files, bytes: check.bytes }) : undefined;
}

async function checkArtifacts(args: { context: StoreContext; fleet: string; source: string; revision: string }): Promise<ArtifactCheck> {
  const { context, fleet, source, revision } = args;
  const artifacts = await context.artifactsFor(source);
  let check: Awaited<ReturnType<typeof artifacts.check>>;
  try {
    check = await artifacts.check({ source, revision });
  } catch (err) {
    throw new OperationError(`could not check that revision ${revision} exists in ${source}: ${(err as Error).message}`
      + ' (fix the access, or pass --force to deploy without the check)', { cause: err });
  }
  if (!check.exists) {
    const problem = check.problem ?? `revision ${revision} was not found at ${check.where}`;
    throw new OperationError(`cannot deploy ${revision} to fleet ${fleet}: ${problem}; or pass --force to deploy anyway`);
  }
  return check;
}

export function registerDeploy(program: Command, session: Session): void {
  const deploy = program.command('deploy')
    .description('ask for a new revision on every host of a fleet (checks that the revision exists first)')
    .addArgument(fleetArgument())
    .addArgument(revisionArgument())
    .option('--force', 'skip the check that the revision exists in the source');
  example(changeOptions(deploy),
    'fleetsync deploy web-prod 3f9c2ab --reason "release 42"',
    'fleetsync status web-prod --watch').action(
    async (fleet: string, revision: string, options: ChangeOptions & { force?: boolean }, command: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const context = await session.open(command);
      const current = await readFleet(context.store, fleet);
      if (current.spec.revision === revision) {
        session.out(`fleet ${fleet} already wants revision ${revision}: nothing to do (see \`fleetsync status ${fleet}\`)`);
        session.exitCode = 0;
        return;
      }
      const check = options.force ? undefined : await checkArtifacts({ context, fleet, source: current.spec.source, revision });
      const size = check ? sizeOf(check) : undefined;
      const previous = current.spec.revision;
      const result = await writeChange({
        store: context.store, clock: session.io.clock, current, requester,
        change: {
          spec: { ...current.spec, revision },
          event: { type: 'deploy', revision, message: `deploy ${revision} (was ${previous})${size ? `, ${size}` : ''}${options.force ? ', artifact check skipped' : ''}` },
        },
      });
      session.out(`fleet ${fleet}: deploying ${revision}${size ? ` (${size})` : ''} (was ${previous}), generation ${result.record.generation}`);
      if (current.spec.rollout.paused) session.out(`note: fleet ${fleet} is paused: run \`fleetsync resume ${fleet}\` to start the rollout`);
      session.out(`follow it with \`fleetsync status ${fleet} --watch\``);
      if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      session.exitCode = 0;
    });
}
