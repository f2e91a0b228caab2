import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { example, optionalFleetArgument } from '../args.ts';
import { UsageError } from '../cliErrors.ts';
import { fleetDocument, fleetList } from '../../status/fleetDocument.ts';
import { parseOutputFormat, serialize, wholeNumber, type OutputFormat } from '../output.ts';
import { noSuchFleet } from '../specChange.ts';
import { fleetListText, fleetText } from '../textStatus.ts';
import { watchFleet } from '../watch.ts';

interface StatusOptions {
  output: OutputFormat;
  watch?: boolean;
  intervalSeconds: number;
}

export function registerStatus(program: Command, session: Session): void {
  example(
    program.command('status')
      .description('show a fleet\'s desired and reached revision, conditions and hosts (every fleet when none is named)')
      .addArgument(optionalFleetArgument())
      .option('-o, --output <format>', 'text, json or yaml', parseOutputFormat, 'text' as OutputFormat)
      .option('-w, --watch', 'follow the rollout until it finishes (exit 0) or halts or a host fails (exit 1)')
      .option('--interval-seconds <n>', 'how often --watch reads the status, 1-300', wholeNumber(1, 300), 2),
    'fleetsync status', 'fleetsync status web-prod --output yaml', 'fleetsync status web-prod --watch',
  ).action(async (fleet: string | undefined, options: StatusOptions, command: Command) => {
    if (options.watch && fleet === undefined) {
      throw new UsageError('--watch follows one fleet: name it (like fleetsync status web-prod --watch)');
    }
    if (options.watch && options.output === 'yaml') {
      throw new UsageError('--watch prints text or one JSON line per change: use --output text or --output json');
    }
    const { store } = await session.open(command);
    if (options.watch && fleet !== undefined) {
      session.exitCode = await watchFleet({
        store, name: fleet, clock: session.io.clock, intervalMs: options.intervalSeconds * 1000,
        out: session.io.stdout, json: options.output === 'json', ...(session.io.signal ? { signal: session.io.signal } : {}),
      });
      return;
    }
    const nowMs = session.io.clock.nowMs();
    if (fleet !== undefined) {
      const doc = await fleetDocument(store, fleet);
      if (!doc) throw noSuchFleet(fleet);
      session.out(options.output === 'text' ? fleetText(doc, nowMs) : serialize(doc, options.output));
    } else {
      const list = await fleetList(store);
      session.out(options.output === 'text' ? fleetListText(list) : serialize(list, options.output));
    }
    session.exitCode = 0;
  });
}
