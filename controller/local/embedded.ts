/**
 * The local half of the embedded default (controller/embedded.ts wires it to the embedded DynamoDB): the
 * home folder's claim and `controller.json`, the sample revisions, and the demo fleet's local hosts.
 *
 * Layout of $FLEETSYNC_HOME (design Contract):
 *   controller.json      { pid, dynamoEndpoint, table, httpEndpoint } of the running controller (read by the CLI)
 *   controller.lock      held (O_EXCL, with the pid) while a controller runs here, so two cannot start at once
 *   db/                  dynalite's data
 *   artifacts/v1, v2/    the sample revisions (source file://$FLEETSYNC_HOME/artifacts)
 *   hosts/group.json     the local groups; hosts/<instanceId>/ each host's destination
 *   commands/            local command records (localCommands.ts)
 */
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FleetSpec } from '../../state/spec.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { ConfigError, ConflictError, ControlPlaneError } from '../errors.ts';
import { EXIT, parseResultLine, scriptArgs } from '../hostProtocol.ts';
import { runHostScript } from './localCommands.ts';
import { pidAlive } from './pid.ts';
import type { LocalFleet } from './localFleet.ts';
import type { LocalGroup } from './localGroup.ts';

export const CONTROLLER_FILE = 'controller.json';
export const CONTROLLER_LOCK = 'controller.lock';
export const DEMO_FLEET = 'demo';
export const DEMO_HOSTS = 3;
export const DEMO_REVISION = 'v1';
/**
 * The demo spec's destination: what real hosts would use. Local hosts ignore it and sync into their own
 * folder, $FLEETSYNC_HOME/hosts/<instanceId>/ (see localCommands.ts).
 */
export const DEMO_DESTINATION = '/srv/demo/app';

export interface ControllerInfo {
  pid: number;
  dynamoEndpoint: string;
  table: string;
  httpEndpoint: string;
}

async function readPid(file: string, key?: 'pid'): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let pid: unknown;
  if (key) {
    try {
      pid = (JSON.parse(text) as { pid?: unknown } | null)?.pid;
    } catch {
      return null;
    }
  } else {
    pid = Number.parseInt(text, 10);
  }
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Not bad input: the home is fine, but another controller holds it (exit 1, not 2). */
function alreadyRuns(home: string, pid: number): ConflictError {
  return new ConflictError(`a controller already runs in ${home} (pid ${pid}): stop it first`);
}

/**
 * Claims the home folder for this process: refuses when controller.json or controller.lock names a live
 * process. Returns a function that gives the claim back.
 */
export async function claimHome(home: string): Promise<() => Promise<void>> {
  const running = await readPid(path.join(home, CONTROLLER_FILE), 'pid');
  if (running !== null && pidAlive(running)) throw alreadyRuns(home, running);
  const lock = path.join(home, CONTROLLER_LOCK);
  for (let tries = 0; ; tries++) {
    try {
      const handle = await open(lock, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      return async () => {
        if ((await readPid(lock)) === process.pid) await rm(lock, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(`cannot create ${lock}: ${(err as Error).message}`, { cause: err });
      }
    }
    const holder = await readPid(lock);
    if (holder !== null && pidAlive(holder)) throw alreadyRuns(home, holder);
    if (tries >= 3) {
      throw new ConflictError(`${lock} is in the way (no live process holds it): delete it if no controller runs in ${home}`);
    }
    // left by a controller that did not stop cleanly
    await rm(lock, { force: true });
  }
}

/** Publishes where the running controller is, for the CLI (controller/cli/storeContext.ts reads it). */
export async function writeControllerFile(home: string, info: ControllerInfo): Promise<void> {
  const file = path.join(home, CONTROLLER_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(info, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** Removes controller.json when it still names this process. */
export async function removeControllerFile(home: string): Promise<void> {
  const file = path.join(home, CONTROLLER_FILE);
  if ((await readPid(file, 'pid')) === process.pid) await rm(file, { force: true });
}

/** The demo fleet's spec: the sample revisions as source, v1 desired, rollout defaults. */
export function demoSpec(home: string): FleetSpec {
  return parseFleetSpec({
    autoScalingGroupName: DEMO_FLEET,
    source: `file://${path.join(home, 'artifacts')}`,
    destination: DEMO_DESTINATION,
    revision: DEMO_REVISION,
  });
}

/**
 * Creates the demo's local group when there is none: DEMO_HOSTS hosts in service, each brought to v1 by the
 * real host script (so each has the release layout a sync left). Returns the hosts it created.
 */
export async function ensureDemoHosts(args: {
  home: string; group: LocalGroup; fleet: LocalFleet; scriptPath: string; spec: FleetSpec;
}): Promise<string[]> {
  const file = await args.group.read();
  if (file.groups[DEMO_FLEET]) return [];
  const { added } = await args.fleet.scale({ group: DEMO_FLEET, count: DEMO_HOSTS, lifecycleState: 'InService', create: true });
  for (const instanceId of added) {
    const destination = args.group.hostDir(instanceId);
    const argv = scriptArgs({
      mode: 'sync', attemptId: `install-${instanceId}`,
      params: {
        source: args.spec.source, revision: DEMO_REVISION, destination, strategy: args.spec.strategy,
        excludes: args.spec.excludes, links: args.spec.links, keepReleases: args.spec.keepReleases,
      },
    });
    const run = await runHostScript({ scriptPath: args.scriptPath, argv });
    if (run.exitCode !== EXIT.synced) {
      const parsed = parseResultLine(run.stdout);
      const why = parsed.ok ? parsed.result.error ?? parsed.result.status : `${parsed.reason}; stderr: ${run.stderrTail.trim()}`;
      throw new ControlPlaneError(`could not install ${DEMO_REVISION} on the demo host ${instanceId} (${destination}),`
        + ` exit ${run.exitCode ?? run.signal ?? run.spawnError}: ${why}`);
    }
  }
  return added;
}
