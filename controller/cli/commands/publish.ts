import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Session } from '../session.ts';
import { example } from '../args.ts';
import { UsageError } from '../cliErrors.ts';
import { parseOutputFormat, serialize, type OutputFormat } from '../output.ts';
import { readFleet, requesterFrom } from '../specChange.ts';
import { openArtifacts } from '../storeContext.ts';
import { ProgressBar } from '../publishProgress.ts';
import { formatBytes, formatSize } from '../../../state/format.ts';
import { publishRevision, type PublishSummary } from '../../publish/publish.ts';
import { DEFAULT_EXCLUDES } from '../../../state/spec.ts';
import { assertValid, checkExclude, checkFleetName, checkRevision, checkSource } from '../../../state/validate.ts';

interface PublishOptions {
  fleet?: string;
  source?: string;
  revision: string;
  exclude?: string[];
  actor?: string;
  output: OutputFormat;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function checkDir(dir: string, cwd: string): Promise<string> {
  const absolute = path.resolve(cwd, dir);
  const info = await stat(absolute).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`${dir} is not a folder: give the build folder to publish (like ./build)`);
  return absolute;
}

function textSummary(s: PublishSummary, fleet: string | undefined): string[] {
  const size = formatSize(s);
  const deploy = fleet ? `deploy it with \`fleetsync deploy ${fleet} ${s.revision}\`` : `deploy it with \`fleetsync deploy FLEET ${s.revision}\``;
  if (s.alreadyPublished) {
    return [`revision ${s.revision} is already published with this content (${size}): nothing uploaded`, `manifest: ${s.manifest}`, deploy];
  }
  return [
    `published revision ${s.revision} (${size}): uploaded ${s.uploadedObjects} new object${s.uploadedObjects === 1 ? '' : 's'}, ${formatBytes(s.uploadedBytes)}, in ${s.seconds} s`,
    `manifest: ${s.manifest}`,
    deploy,
  ];
}

export function registerPublish(program: Command, session: Session): void {
  const command = program.command('publish')
    .description('upload a build folder as a revision: only contents the source does not hold yet, then its manifest')
    .argument('<dir>', 'the build folder (symlinks in it are not followed)')
    .requiredOption('--revision <revision>', 'the revision name (like a git sha 3f9c2ab)')
    .addOption(new Option('--fleet <fleet>', 'publish to this fleet\'s spec.source, with its excludes').conflicts('source'))
    .addOption(new Option('--source <url>', 'publish to s3://bucket/prefix or file:///path instead of a fleet\'s source'))
    .addOption(new Option('--exclude <pattern>', `leave out paths like this (with --source; repeat it; default ${DEFAULT_EXCLUDES.join(' ')})`)
      .argParser(collect).conflicts('fleet'))
    .option('--actor <who>', 'who publishes, recorded in the manifest (default: user@hostname)')
    .option('-o, --output <format>', 'text, json or yaml', parseOutputFormat, 'text' as OutputFormat);
  example(command,
    'fleetsync publish ./build --fleet web-prod --revision "$GIT_SHA" && fleetsync deploy web-prod "$GIT_SHA"',
    'fleetsync publish ./build --source s3://my-codebase/web --revision 3f9c2ab --output json');
  command.action(async (dir: string, options: PublishOptions, cmd: Command) => {
    assertValid([
      checkRevision(options.revision, '--revision'),
      options.fleet !== undefined ? checkFleetName(options.fleet, '--fleet') : undefined,
      options.source !== undefined ? checkSource(options.source, '--source') : undefined,
      ...(options.exclude ?? []).map((p) => checkExclude(p, '--exclude')),
    ]);
    if (options.fleet === undefined && options.source === undefined) {
      throw new UsageError('say where to publish: --fleet FLEET (its spec.source) or --source s3://bucket/prefix | file:///path');
    }
    const { actor } = requesterFrom(options, session.io.defaultActor);
    const absolute = await checkDir(dir, session.io.cwd);
    let source = options.source;
    let excludes = options.exclude ?? DEFAULT_EXCLUDES;
    if (options.fleet !== undefined) {
      const { spec } = await readFleet((await session.open(cmd)).store, options.fleet);
      source = spec.source;
      excludes = spec.excludes;
    }
    const artifacts = openArtifacts(session.io.env);
    const bar = new ProgressBar(session.io.stderr, session.io.clock);
    try {
      const summary = await publishRevision({
        dir: absolute, source: source as string, revision: options.revision, excludes, publishedBy: actor,
        store: await artifacts.artifactsFor(source as string), clock: session.io.clock,
        onProgress: (p) => bar.update(p),
        ...(session.io.signal ? { signal: session.io.signal } : {}),
      });
      bar.done();
      if (summary.skipped.length > 0) {
        session.err(`warning: left out ${summary.skipped.length} symlinks or special files (publish never follows symlinks): `
          + `${summary.skipped.slice(0, 5).join(', ')}${summary.skipped.length > 5 ? ', ...' : ''}`);
      }
      if (options.output === 'text') session.out(textSummary(summary, options.fleet).join('\n'));
      else session.out(serialize(summary, options.output));
      session.exitCode = 0;
    } finally {
      bar.done();
      artifacts.close();
    }
  });
}
