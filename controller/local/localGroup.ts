/**
 * The local stand-in for Auto Scaling groups: one JSON file, `$FLEETSYNC_HOME/hosts/group.json`, listing each
 * local group's instances. Each instance's folder, `$FLEETSYNC_HOME/hosts/<instanceId>/`, is that host's
 * destination (its own lock, releases, `media/` and `var/`).
 *
 * The controller (LocalFleet) and the CLI (`fleetsync local scale`) both change the file, from different
 * processes: every change takes `group.json.lock` (created with O_EXCL, holding the writer's pid; a lock whose
 * pid has exited is stale and removed), reads the file, changes it, writes a temporary file and renames it over
 * `group.json`, so a reader never sees half a file and no change is lost.
 *
 * Hosts that leave a group (scaled in, abandoned, marked unhealthy) have their folder moved to
 * `hosts/.terminated/<instanceId>/`, kept for inspection: delete it when you no longer need it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../ports/clock.ts';
import { ConfigError, ControlPlaneError } from '../errors.ts';
import { PATTERNS, checkDestination, normalFolder, systemTreeOf } from '../../state/validate.ts';
import { pidAlive } from './pid.ts';

export const GROUP_FILE = 'group.json';
export const TERMINATED_FOLDER = '.terminated';

/** One local instance, as the group file stores it. */
export interface LocalInstance {
  instanceId: string;
  /** Pending:Wait, InService, Terminating, Warmed:Pending:Wait, Warmed:Stopped (the Auto Scaling names) */
  lifecycleState: string;
  launchTimeMs: number;
  /** Terminating instances leave the group at this time */
  leaveAtMs?: number;
}

export interface GroupFile {
  version: 1;
  /** group name (the fleet spec's autoScalingGroupName) -> its instances (its warm pool's among them, Warmed:*) */
  groups: Record<string, LocalInstance[]>;
  /** group name -> how many instances it keeps in its warm pool (absent: none) */
  warmPools?: Record<string, number>;
}

export interface LocalGroupOptions {
  /** $FLEETSYNC_HOME, absolute */
  home: string;
  clock: Clock;
  /** how long to wait for another writer's lock before giving up */
  lockWaitMs?: number;
}

const LOCK_RETRY_MS = 20;
const DEFAULT_LOCK_WAIT_MS = 5_000;
/** i- and 17 hex digits, as EC2 ids are today (the Contract accepts 8-17) */
const NEW_ID_HEX_DIGITS = 17;

/** Something wrong with the home folder for local hosts, or undefined when it can hold them. */
export function homeProblem(home: string): string | undefined {
  if (!path.isAbsolute(home)) return `FLEETSYNC_HOME ${JSON.stringify(home)} must be an absolute path`;
  const sampleHost = path.join(home, 'hosts', `i-${'0'.repeat(NEW_ID_HEX_DIGITS)}`);
  const sampleSource = `file://${path.join(home, 'artifacts')}`;
  const tree = systemTreeOf(normalFolder(home));
  if (tree !== undefined) {
    return `FLEETSYNC_HOME ${JSON.stringify(home)} is inside the system folder ${tree}: each local host's folder`
      + ` (${path.join(home, 'hosts', '<instanceId>')}) is its sync destination, and the host script refuses destinations`
      + ' there (they could wreck a real host): set FLEETSYNC_HOME to a folder outside the system folders (like /home/me/fleetsync or /srv/fleetsync)';
  }
  if (checkDestination(sampleHost, 'x') !== undefined || !PATTERNS.fileSource.test(sampleSource)) {
    return `FLEETSYNC_HOME ${JSON.stringify(home)} cannot hold the local fleet: each local host's folder`
      + ` (${path.join(home, 'hosts', '<instanceId>')}) is its sync destination, and a destination may hold only`
      + ' letters, digits and . _ - / (at most 256 characters in all): set FLEETSYNC_HOME to such a folder (like /home/me/fleetsync)';
  }
  return undefined;
}

export function assertHome(home: string): void {
  const problem = homeProblem(home);
  if (problem) throw new ConfigError(problem);
}

/** A new instance id of the Contract's form, i- and 17 hex digits. */
export function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, NEW_ID_HEX_DIGITS)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseGroupFile(text: string, file: string): GroupFile {
  const fix = `fix or delete ${file} (deleting it forgets every local host; the embedded default recreates the demo fleet on its next start)`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ControlPlaneError(`${file} is not JSON (${(err as Error).message}): ${fix}`, { cause: err });
  }
  if (!isRecord(value) || value.version !== 1 || !isRecord(value.groups)) {
    throw new ControlPlaneError(`${file} does not hold { version: 1, groups: {...} }: ${fix}`);
  }
  const pools = value.warmPools;
  if (pools !== undefined && !(isRecord(pools) && Object.values(pools).every((n) => Number.isInteger(n) && (n as number) >= 0))) {
    throw new ControlPlaneError(`${file}: warmPools must map group names to whole numbers (the warm pool sizes): ${fix}`);
  }
  for (const [name, instances] of Object.entries(value.groups)) {
    const ok = Array.isArray(instances) && instances.every((i) => isRecord(i)
      && typeof i.instanceId === 'string' && PATTERNS.instanceId.test(i.instanceId)
      && typeof i.lifecycleState === 'string' && typeof i.launchTimeMs === 'number'
      && (i.leaveAtMs === undefined || typeof i.leaveAtMs === 'number'));
    if (!ok) {
      throw new ControlPlaneError(`${file}: group ${JSON.stringify(name)} must list { instanceId (i-0123456789abcdef0), lifecycleState, launchTimeMs }: ${fix}`);
    }
  }
  return value as unknown as GroupFile;
}

export class LocalGroup {
  readonly hostsDir: string;
  readonly file: string;
  private readonly lockFile: string;
  private readonly clock: Clock;
  private readonly lockWaitMs: number;

  constructor(options: LocalGroupOptions) {
    assertHome(options.home);
    this.hostsDir = path.join(options.home, 'hosts');
    this.file = path.join(this.hostsDir, GROUP_FILE);
    this.lockFile = `${this.file}.lock`;
    this.clock = options.clock;
    this.lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  }

  /** The host's folder: its destination. */
  hostDir(instanceId: string): string {
    if (!PATTERNS.instanceId.test(instanceId)) {
      throw new ControlPlaneError(`${JSON.stringify(instanceId)} is not an instance id (like i-0123456789abcdef0)`);
    }
    return path.join(this.hostsDir, instanceId);
  }

  /** The whole file; no groups when it does not exist yet. */
  async read(): Promise<GroupFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, groups: {} };
      throw new ControlPlaneError(`cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    return parseGroupFile(text, this.file);
  }

  /**
   * Changes the file under the lock: `change` edits the GroupFile it is given (and says whether it changed
   * anything); `beforeWrite` runs after it and before the file is written (still under the lock); the result
   * is written atomically. Returns what `change` returns.
   */
  async update<T>(
    change: (file: GroupFile) => { changed: boolean; value: T },
    beforeWrite?: () => Promise<void>,
  ): Promise<T> {
    await mkdir(this.hostsDir, { recursive: true });
    await this.lock();
    try {
      const file = await this.read();
      const { changed, value } = change(file);
      await beforeWrite?.();
      if (changed) await this.write(file);
      return value;
    } finally {
      await unlink(this.lockFile).catch(() => undefined);
    }
  }

  /** A new host's folder, with a `media/` and `var/` of its own that syncs must leave alone. */
  async createHostFolder(instanceId: string): Promise<string> {
    const dir = this.hostDir(instanceId);
    await mkdir(path.join(dir, 'media'), { recursive: true });
    await mkdir(path.join(dir, 'var'), { recursive: true });
    await writeFile(path.join(dir, 'media', 'site.css'), `/* shared media of ${instanceId}: syncs never touch it */\nbody { font-family: sans-serif; }\n`);
    await writeFile(path.join(dir, 'var', 'sessions.log'), `runtime data of ${instanceId}: syncs never touch it\n`);
    return dir;
  }

  /** Moves a host that left its group to hosts/.terminated/ (kept for inspection). */
  async retireHostFolder(instanceId: string): Promise<void> {
    const dir = this.hostDir(instanceId);
    const graveyard = path.join(this.hostsDir, TERMINATED_FOLDER);
    await mkdir(graveyard, { recursive: true });
    let target = path.join(graveyard, instanceId);
    if (await stat(target).then(() => true, () => false)) {
      target = `${target}.${this.clock.nowMs()}`;
    }
    try {
      await rename(dir, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ControlPlaneError(`cannot move ${dir} to ${target}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private async write(file: GroupFile): Promise<void> {
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(file, null, 2)}\n`);
    await rename(temp, this.file);
  }

  private async lock(): Promise<void> {
    const deadline = this.clock.nowMs() + this.lockWaitMs;
    for (;;) {
      try {
        const handle = await open(this.lockFile, 'wx');
        try {
          await handle.writeFile(`${process.pid}\n`);
        } finally {
          await handle.close();
        }
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ControlPlaneError(`cannot create the lock ${this.lockFile}: ${(err as Error).message}`, { cause: err });
        }
      }
      const holder = Number.parseInt(await readFile(this.lockFile, 'utf8').catch(() => ''), 10);
      // A lock left by a process that has exited is stale. A lock still being written (no pid yet) is not.
      // (Two writers breaking the same stale lock at once could both proceed; that needs a crash and a race.)
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
        await rm(this.lockFile, { force: true });
        continue;
      }
      if (this.clock.nowMs() >= deadline) {
        throw new ControlPlaneError(`${this.file} stays locked by process ${Number.isInteger(holder) ? holder : '(unknown)'}`
          + ` (${this.lockFile}): wait for it, or delete the lock file if no fleetsync process runs`);
      }
      await this.clock.sleep(LOCK_RETRY_MS);
    }
  }
}
