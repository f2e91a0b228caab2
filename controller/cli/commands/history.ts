import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { example, fleetArgument } from '../args.ts';
import { isoTime, orDash, parseOutputFormat, serialize, table, wholeNumber, type OutputFormat } from '../output.ts';
import { readFleet } from '../specChange.ts';
import { API_VERSION } from '../../../state/spec.ts';

export function registerHistory(program: Command, session: Session): void {
  example(
    program.command('history')
      .description('list a fleet\'s events, newest first: deploys, rollbacks, pauses, rollouts, halts, host failures')
      .addArgument(fleetArgument())
      .option('--limit <n>', 'how many events, 1-1000', wholeNumber(1, 1000), 20)
      .option('-o, --output <format>', 'text, json or yaml', parseOutputFormat, 'text' as OutputFormat),
    'fleetsync history web-prod --limit 50',
  ).action(async (fleet: string, options: { limit: number; output: OutputFormat }, command: Command) => {
    const { store } = await session.open(command);
    await readFleet(store, fleet);
    const events = await store.listHistory(fleet, { limit: options.limit });
    if (options.output !== 'text') {
      session.out(serialize({
        apiVersion: API_VERSION, kind: 'FleetHistory', metadata: { name: fleet },
        events: events.map((e) => ({ at: isoTime(e.atMs), ...e })),
      }, options.output));
    } else if (events.length === 0) {
      session.out(`fleet ${fleet} has no history yet`);
    } else {
      session.out(table(
        ['TIME', 'EVENT', 'REVISION', 'GEN', 'HOST', 'ACTOR', 'MESSAGE'],
        events.map((e) => [
          isoTime(e.atMs), e.type, orDash(e.revision), orDash(e.generation), orDash(e.instanceId), e.actor,
          e.reason ? `${e.message} (reason: ${e.reason})` : e.message,
        ]),
      ));
    }
    session.exitCode = 0;
  });
}
