import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, type FleetSpec } from '../../../state/spec.ts';
import { parseFleetResource, ValidationError } from '../../../state/validate.ts';
import type { Session } from '../session.ts';
import { changeOptions, example, type ChangeOptions } from '../args.ts';
import { OperationError, UsageError } from '../cliErrors.ts';
import { MalformedItemError } from '../../errors.ts';
import { orDash, parseOutputFormat, serialize, table, type OutputFormat } from '../output.ts';
import { requesterFrom, writeChange } from '../specChange.ts';

async function readResource(file: string, cwd: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}: pass the path of a Fleet resource (YAML or JSON)`);
  }
  // YAML 1.2 reads JSON too, so one parser serves both
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new UsageError(`${file} is empty: it must hold one Fleet resource`);
  if (docs.length !== 1) throw new UsageError(`${file} holds ${docs.length} documents: put one Fleet resource per file`);
  const doc = docs[0]!;
  if (doc.errors.length > 0) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${doc.errors[0]!.message}`);
  }
  try {
    return doc.toJS();
  } catch (err) {
    // the yaml library refuses to expand aliases past a limit (a "billion laughs" file): bad input, like any malformed file
    throw new UsageError(`${file} cannot be read as a Fleet resource: ${(err as Error).message}; write the values out instead of through YAML aliases`, { cause: err });
  }
}

/** Top-level spec fields that differ, for the history message. */
function changedFields(before: FleetSpec, after: FleetSpec): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof FleetSpec>;
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

function numberHint(err: ValidationError): ValidationError {
  const hint = 'in YAML, quote a value that looks like a number (revision: "1234567")';
  return err.problems.some((p) => p.includes('must be a string')) ? new ValidationError([...err.problems, hint]) : err;
}

function registerApply(fleet: Command, session: Session): void {
  const apply = fleet.command('apply')
    .description('create a fleet or change its spec from a Fleet resource file (YAML or JSON); bumps its generation')
    .requiredOption('-f, --file <file>', 'the Fleet resource (YAML or JSON)');
  example(changeOptions(apply), 'fleetsync fleet apply -f fleet.yaml --reason "first setup"')
    .action(async (options: ChangeOptions & { file: string }, command: Command) => {
      const requester = requesterFrom(options, session.io.defaultActor);
      const raw = await readResource(options.file, session.io.cwd);
      let parsed: ReturnType<typeof parseFleetResource>;
      try {
        parsed = parseFleetResource(raw);
      } catch (err) {
        throw err instanceof ValidationError ? numberHint(err) : err;
      }
      const { name } = parsed;
      const { store } = await session.open(command);
      let unreadableAt: number | undefined;
      const current = await store.getFleet(name).catch((err: unknown) => {
        // An unreadable spec that still has its generation is replaced at it; without one, the store cannot.
        if (err instanceof MalformedItemError && err.generation !== undefined) {
          unreadableAt = err.generation;
          return null;
        }
        if (err instanceof MalformedItemError) {
          throw new OperationError(`${err.message.replace(/; fix it with.*$/, '')}: it has no readable generation, so the CLI`
            + ` cannot replace it; fix or delete fleet ${name}'s spec item in the table by hand, then apply again`, { cause: err });
        }
        throw err;
      });
      const spec = parsed.spec;
      // Two fleets on one group would both sync its hosts: the group belongs to the fleet that named it first.
      const owner = (await store.listFleets()).fleets
        .find((f) => f.name !== name && f.spec.autoScalingGroupName === spec.autoScalingGroupName);
      if (owner) {
        throw new OperationError(`Auto Scaling group ${spec.autoScalingGroupName} already belongs to fleet ${owner.name}: `
          + `one group, one fleet; change fleet ${owner.name} instead, or name another group in ${name}`);
      }
      const rawSpec = (raw as { spec?: Record<string, unknown> }).spec ?? {};
      // retries are requests the CLI adds one at a time: a file that names none keeps the pending ones
      if (current && rawSpec.retries === undefined) spec.retries = current.spec.retries;

      if (current) {
        const changed = changedFields(current.spec, spec);
        if (changed.length === 0) {
          session.out(`fleet ${name} unchanged (generation ${current.generation})`);
          session.exitCode = 0;
          return;
        }
        const result = await writeChange({
          store, clock: session.io.clock, current, requester,
          change: { spec, event: { type: 'apply', revision: spec.revision, message: `changed ${changed.join(', ')}` } },
        });
        session.out(`fleet ${name} updated: ${changed.join(', ')} (generation ${result.record.generation})`);
        if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      } else if (unreadableAt !== undefined) {
        const result = await writeChange({
          store, clock: session.io.clock, current: { name, generation: unreadableAt }, requester,
          change: { spec, event: { type: 'apply', revision: spec.revision, message: `replaced an unreadable spec (generation ${unreadableAt})` } },
        });
        session.out(`fleet ${name}: unreadable spec replaced (generation ${result.record.generation})`);
        if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      } else {
        const result = await writeChange({
          store, clock: session.io.clock, current: { name, generation: 0 }, requester,
          change: { spec, event: { type: 'apply', revision: spec.revision, message: `created fleet at revision ${spec.revision}` } },
        });
        session.out(`fleet ${name} created at revision ${spec.revision} (generation ${result.record.generation})`);
        if (result.historyWarning) session.err(`warning: ${result.historyWarning}`);
      }
      session.exitCode = 0;
    });
}

function registerList(fleet: Command, session: Session): void {
  example(
    fleet.command('list')
      .description('list the fleets with their group, source and desired revision')
      .option('-o, --output <format>', 'text, json or yaml', parseOutputFormat, 'text' as OutputFormat),
    'fleetsync fleet list', 'fleetsync fleet list --output json',
  ).action(async (options: { output: OutputFormat }, command: Command) => {
    const { store } = await session.open(command);
    const { fleets, malformed } = await store.listFleets();
    const sorted = [...fleets].sort((a, b) => a.name.localeCompare(b.name));
    if (options.output !== 'text') {
      // the FleetList of `status`, without status and hosts: specs only
      session.out(serialize({
        apiVersion: API_VERSION,
        kind: 'FleetList',
        items: sorted.map((f) => ({
          apiVersion: API_VERSION, kind: 'Fleet', metadata: { name: f.name, generation: f.generation }, spec: f.spec,
        })),
        ...(malformed.length > 0 ? { errors: malformed } : {}),
      }, options.output));
    } else if (sorted.length === 0 && malformed.length === 0) {
      session.out('no fleets yet: create one with `fleetsync fleet apply -f fleet.yaml`');
    } else {
      session.out(table(
        ['NAME', 'GENERATION', 'GROUP', 'SOURCE', 'DESIRED', 'PAUSED'],
        sorted.map((f) => [f.name, String(f.generation), f.spec.autoScalingGroupName, f.spec.source,
          orDash(f.spec.revision), f.spec.rollout.paused ? 'yes' : 'no']),
      ));
    }
    for (const m of malformed) session.err(`warning: unreadable fleet item ${m.key}: ${m.error}`);
    session.exitCode = 0;
  });
}

export function registerFleet(program: Command, session: Session): void {
  const fleet = program.command('fleet').description('create, change and list fleets');
  example(fleet, 'fleetsync fleet apply -f fleet.yaml', 'fleetsync fleet list');
  registerApply(fleet, session);
  registerList(fleet, session);
}
