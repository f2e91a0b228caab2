import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Session } from '../session.ts';
import { example } from '../args.ts';
import { UsageError } from '../cliErrors.ts';
import { parseOutputFormat, serialize, wholeNumber, type OutputFormat } from '../output.ts';
import { readFleet } from '../specChange.ts';
import { formatBytes } from '../../../state/format.ts';
import { assertValid, checkFleetName, checkSource } from '../../../state/validate.ts';
import { collectObjects, type CollectSummary, type Tally } from '../../gc/collectObjects.ts';
import { pinnedRevisions } from '../../gc/pinnedRevisions.ts';

export const DEFAULT_GRACE_HOURS = 24;
const MAX_KEEP = 10_000;
const HOUR_MS = 3_600_000;

interface GcOptions {
  fleet?: string;
  source?: string;
  keep: number;
  graceHours: number;
  dryRun?: boolean;
  output: OutputFormat;
}

/** commander argParser for --grace-hours: hours, fractions allowed, never negative. */
function hours(value: string): number {
  if (!/^\d{1,6}(\.\d{1,6})?$/.test(value)) {
    throw new InvalidArgumentError('use a number of hours, 0 or more (like 24, or 0.5 for half an hour)');
  }
  return Number(value);
}

function tally(t: Tally): string {
  return `${t.objects} object${t.objects === 1 ? '' : 's'} (${formatBytes(t.bytes)})`;
}

function textSummary(s: CollectSummary): string[] {
  const inUse = Object.entries(s.revisions.inUse).map(([revision, fleets]) => `${revision} (${fleets.join(', ')})`);
  return [
    `${s.source}: ${s.revisions.published} published revision${s.revisions.published === 1 ? '' : 's'};`
      + ` keeping the objects of the ${s.revisions.newest.length} newest (${s.revisions.newest.join(', ') || 'none'})`
      + ` and of those fleets use (${inUse.join(', ') || 'none'})`,
    `${s.dryRun ? 'would remove' : 'removed'} ${tally(s.removed)} of ${tally(s.stored)};`
      + ` kept ${tally(s.referenced)} that kept revisions use and ${tally(s.young)} younger than ${s.gracePeriodHours} h`,
    ...(s.dryRun ? ['dry run: nothing was removed; run again without --dry-run to remove them'] : []),
  ];
}

export function registerGc(program: Command, session: Session): void {
  const command = program.command('gc')
    .description('remove the objects of a source that no kept revision uses: not the newest --keep published revisions,'
      + ' not any revision a fleet on that source wants, reached, attempted or runs, and older than --grace-hours')
    .addOption(new Option('--fleet <fleet>', 'collect this fleet\'s spec.source').conflicts('source'))
    .addOption(new Option('--source <url>', 'collect s3://bucket/prefix or file:///path'))
    .requiredOption('--keep <n>', 'keep the objects of the N newest published revisions (by publish time)', wholeNumber(1, MAX_KEEP))
    .option('--grace-hours <hours>', 'never remove an object younger than this: a publish or a sync may still need it', hours, DEFAULT_GRACE_HOURS)
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('-o, --output <format>', 'text, json or yaml', parseOutputFormat, 'text' as OutputFormat);
  example(command,
    'fleetsync gc --fleet web-prod --keep 10 --dry-run',
    'fleetsync gc --source s3://my-codebase/web --keep 10 --grace-hours 48 --output json');
  command.action(async (options: GcOptions, cmd: Command) => {
    assertValid([
      options.fleet !== undefined ? checkFleetName(options.fleet, '--fleet') : undefined,
      options.source !== undefined ? checkSource(options.source, '--source') : undefined,
    ]);
    if (options.fleet === undefined && options.source === undefined) {
      throw new UsageError('say which source to collect: --fleet FLEET (its spec.source) or --source s3://bucket/prefix | file:///path');
    }
    // the store says which revisions fleets use: gc never runs without it
    const context = await session.open(cmd);
    const source = options.fleet !== undefined ? (await readFleet(context.store, options.fleet)).spec.source : options.source as string;
    const { pinned } = await pinnedRevisions(context.store, source);
    const summary = await collectObjects({
      source, keep: options.keep, gracePeriodMs: options.graceHours * HOUR_MS, pinned, dryRun: options.dryRun === true,
      store: await context.artifactsFor(source), clock: session.io.clock,
      ...(session.io.signal ? { signal: session.io.signal } : {}),
    });
    if (options.output === 'text') session.out(textSummary(summary).join('\n'));
    else session.out(serialize(summary, options.output));
    session.exitCode = 0;
  });
}
