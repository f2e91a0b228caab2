import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { changeOptions, example, fleetArgument, instanceArgument, type ChangeOptions } from '../args.ts';
import { OperationError } from '../cliErrors.ts';
import { readFleet, requesterFrom, writeChange } from '../specChange.ts';

export function registerRetry(program: Command, session: Session): void {
  const retry = program.command('retry')
    .description('ask the controller to try a failed host again (a request in the spec; the leader acts on it)')
    .addArgument(fleetArgument())
    .addArgument(instanceArgument());
  example(changeOptions(retry), 'fleetsync retry web-prod i-0123456789abcdef0 --reason "disk cleaned up"')
    .action(async (fleet: string, instance: string, options: ChangeOptions, command: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const { store } = await session.open(command);
      const current = await readFleet(store, fleet);
      const { hosts } = await store.listHosts(fleet);
      const host = hosts.find((h) => h.instanceId === instance);
      if (!host) {
        throw new OperationError(`fleet ${fleet} has no host ${instance}: see \`fleetsync status ${fleet}\` for its hosts`);
      }
      if (host.state !== 'failed') {
        throw new OperationError(`host ${instance} of fleet ${fleet} is ${host.state}, not failed: there is nothing to retry`
          + ' (the controller retries hosts on its own until they fail)');
      }
      const requestId = randomUUID();
      // Only requests still waiting are kept, so the spec item does not grow with every retry ever asked for.
      const waiting = Object.fromEntries(Object.entries(current.spec.retries).filter(([id, request]) => {
        const other = hosts.find((h) => h.instanceId === id);
        return other !== undefined && other.context.retryRequestId !== request;
      }));
      const result = await writeChange({
        store, clock: session.io.clock, current, requester,
        change: {
          spec: { ...current.spec, retries: { ...waiting, [instance]: requestId } },
          event: {
            type: 'retry', instanceId: instance, revision: current.spec.revision,
            message: `retry requested for ${instance} (failed${host.context.lastError ? `: ${host.context.lastError}` : ''})`,
          },
        },
      });
      session.out(`fleet ${fleet}: asked the controller to retry ${instance} (request ${requestId}, generation ${result.record.generation})`);
      if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      session.exitCode = 0;
    });
}
