/**
 * Whole controllers (Manager, leader election, reconciler) on one DynamoDB table (dynalite), over simulated
 * fleets, on the real clock with short timings. Each controller is a "process": its own store client, its
 * ports wrapped so they all reject once it is killed, and its Commands port wrapped so every command it
 * starts is checked against the lease item read from the table at that instant.
 */
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { pino } from 'pino';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { ensureTable } from '../../controller/aws/tableSchema.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { Manager } from '../../controller/manager.ts';
import type { LeaderSettings } from '../../controller/leader.ts';
import type { Logger } from '../../controller/log.ts';
import type { Commands, SendArgs } from '../../controller/ports/commands.ts';
import type { Fleet } from '../../controller/ports/fleet.ts';
import type { Lease, Store } from '../../controller/ports/store.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../../controller/reconciler/settings.ts';
import { killable } from '../../controller/sim/killable.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimGroups, type SimGroup } from '../../controller/sim/simGroups.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';

export const clock = realClock;

export const LEADER: LeaderSettings = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 };

export const SETTINGS: ReconcilerSettings = {
  ...DEFAULT_SETTINGS,
  // one resync is part of the takeover bound (lease + one resync): 1 s keeps that bound clear of load noise
  resyncMs: 1_000,
  pollMs: 100,
  specPollMs: 200,
  batchWindowMs: 50,
  statusDebounceMs: 20,
  backoffBaseMs: 200,
  backoffCapMs: 1_000,
};

export const SYNC_MS = 300;
export const PROBE_MS = 100;

export const sleep = (ms: number): Promise<void> => clock.sleep(ms);

/** Polls `check` every 25 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<number> {
  const start = clock.nowMs();
  for (;;) {
    if (await check()) return clock.nowMs() - start;
    if (clock.nowMs() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

// ---- the simulated fleets --------------------------------------------------------------------------------

/** One Auto Scaling group per fleet (`<fleet>-asg`), each its own simulated world, routed by SimGroups. */
export class SimFleets {
  private readonly routed = new SimGroups();
  readonly traffic: SimTraffic;
  private seed = 1;

  constructor() {
    // Traffic is only used when a spec drains; the tests here do not.
    this.traffic = new SimTraffic(this.newWorld());
  }

  add(fleet: string, options: { hosts: number; syncMs?: number }): SimGroup {
    const world = this.newWorld();
    world.launch(options.hosts, { inService: true, revision: 'rev-0' });
    const group: SimGroup = {
      fleet, groupName: `${fleet}-asg`, targetGroupArn: `${fleet}-targets`, world, fleetPort: new SimFleet(world),
      commands: new SimCommands(world, { syncMs: options.syncMs ?? SYNC_MS, probeMs: PROBE_MS, failRate: 0 }),
      traffic: this.traffic,
    };
    this.routed.add(group);
    return group;
  }

  private newWorld(): SimWorld {
    return new SimWorld({
      clock, random: seededRandom(this.seed++), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0',
    });
  }

  group(fleet: string): SimGroup {
    return this.routed.group(fleet);
  }

  /** The Fleet port: routed to a fleet's group by its Auto Scaling group name. */
  fleetPort(): Fleet {
    return this.routed.fleetPort();
  }

  /** The Commands port: routed by fleet; command ids carry their fleet (`<fleet>/<id>`). */
  commands(): Commands {
    return this.routed.commands();
  }

  duplicateSends(): number {
    return this.routed.all().reduce((sum, g) => sum + g.commands.duplicateSends, 0);
  }

  /** Every host of the fleet's group runs `revision` on disk. */
  allAt(fleet: string, revision: string): boolean {
    return this.group(fleet).world.live().every((i) => i.revision === revision);
  }
}

// ---- the table -------------------------------------------------------------------------------------------

export interface Table {
  db: Dynalite;
  tableName: string;
  /** the test's own view of the table: never killed, never partitioned */
  observer: DynamoStore;
  newStore(): DynamoStore;
  stop(): Promise<void>;
}

let tables = 0;

export async function startTable(): Promise<Table> {
  const db = await startDynalite();
  const tableName = `fleetsync-leadership-${++tables}`;
  await ensureTable({ client: db.client(), tableName, clock });
  return {
    db, tableName,
    observer: new DynamoStore({ client: db.client(), tableName }),
    newStore: () => new DynamoStore({ client: db.client(), tableName }),
    stop: () => db.stop(),
  };
}

export function spec(fleet: string, revision: string, maxUnavailable: number | string = '50%') {
  return parseFleetSpec({
    autoScalingGroupName: `${fleet}-asg`, source: 's3://fleetsync-test/app', destination: '/var/www/app', revision,
    rollout: { maxUnavailable, syncTimeoutSeconds: 30, maxAttempts: 3 },
  });
}

/** What the CLI's deploy does: the spec change, then its history event. */
export async function putRevision(store: Store, fleet: string, revision: string, maxUnavailable: number | string = '50%'): Promise<void> {
  const current = await store.getFleet(fleet);
  const { generation } = await store.putFleetSpec({
    name: fleet, spec: spec(fleet, revision, maxUnavailable), expectedGeneration: current?.generation ?? 0, nowMs: clock.nowMs(),
  });
  await store.appendHistory(fleet, {
    type: 'deploy', atMs: clock.nowMs(), actor: 'test@leadership', revision, generation, message: `deploy ${revision}`,
  });
}

/** The fleet's status says every live host is in sync at `revision`, and the simulated disks agree. */
export async function converged(table: Table, sims: SimFleets, fleet: string, revision: string): Promise<boolean> {
  const status = await table.observer.getStatus(fleet);
  const live = sims.group(fleet).world.live().length;
  return status?.revision === revision && status.hostCounts.inSync === live && status.hostCounts.total === live
    && sims.allAt(fleet, revision);
}

// ---- controllers -----------------------------------------------------------------------------------------

/** One command start, and what the table said about the fleet's lease at that instant. */
export interface SendRecord {
  holder: string;
  fleet: string;
  attemptId: string;
  mode: SendArgs['mode'];
  instanceIds: string[];
  atMs: number;
  /** the lease token the sender acts under: attempt ids are `<a|p>-<token>-<seq>` */
  token: number;
  lease: Lease | null;
  /** other live controllers that counted this fleet among the ones they lead at that instant */
  othersLeading: string[];
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger that keeps every line (debug and up) in memory. */
export function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, destination), lines };
}

export interface Controller {
  holder: string;
  manager: Manager;
  dead: boolean;
  /** statuses this controller wrote, with when */
  statusWrites: Array<{ fleet: string; atMs: number; status: FleetStatus }>;
  lines: LogLine[];
  /** a crash: every port rejects from now on, the process's loops stop, nothing is released */
  kill(): void;
  /** a clean shutdown: leases are released */
  stop(): Promise<void>;
  done: Promise<void>;
}

export interface ControllerOptions {
  holder: string;
  table: Table;
  sims: SimFleets;
  /** every controller of the test, so a send can be checked against the others */
  all: Controller[];
  sends: SendRecord[];
  /** wraps the controller's Commands port inside the kill switch (used to crash at a chosen moment) */
  wrapCommands?: (commands: Commands, self: () => Controller) => Commands;
  /** wraps the controller's store inside the kill switch (used to act between two of its calls) */
  wrapStore?: (store: Store) => Store;
  /** the controller's store reaches the table only while this says so (a network partition otherwise) */
  storeReachable?: () => boolean;
  fleets?: string[];
}

function tokenOf(attemptId: string): number {
  const match = /^[ap]-(\d+)-\d+$/.exec(attemptId);
  return match ? Number(match[1]) : Number.NaN;
}

function recording(inner: Commands, o: ControllerOptions, self: () => Controller): Commands {
  return {
    send: async (args: SendArgs) => {
      const lease = await o.table.observer.getLease(args.fleet);
      // From here to the send there is no await: the lease read and the send are one instant.
      const atMs = clock.nowMs();
      const othersLeading = o.all.filter((c) => c !== self() && !c.dead && c.manager.leases().includes(args.fleet)).map((c) => c.holder);
      o.sends.push({
        holder: o.holder, fleet: args.fleet, attemptId: args.attemptId, mode: args.mode, instanceIds: [...args.instanceIds],
        atMs, token: tokenOf(args.attemptId), lease, othersLeading,
      });
      return inner.send(args);
    },
    results: (commandId, signal) => inner.results(commandId, signal),
    cancel: (args) => inner.cancel(args),
    findByAttempt: (args) => inner.findByAttempt(args),
  };
}

export function startController(o: ControllerOptions): Controller {
  const abort = new AbortController();
  const { log, lines } = memoryLogger();
  const self = (): Controller => controller;
  const isDead = (): boolean => controller.dead;
  const partitioned = (): boolean => controller.dead || !(o.storeReachable?.() ?? true);
  let commands = recording(o.sims.commands(), o, self);
  if (o.wrapCommands) commands = o.wrapCommands(commands, self);
  const statusWrites: Controller['statusWrites'] = [];
  const manager = new Manager({
    store: killable(o.wrapStore ? o.wrapStore(o.table.newStore()) : o.table.newStore(), partitioned),
    fleetPort: killable(o.sims.fleetPort(), isDead),
    commands: killable(commands, isDead),
    traffic: killable(o.sims.traffic, isDead),
    clock, random: seededRandom(o.holder.length * 7919 + o.all.length), holder: o.holder,
    settings: SETTINGS, leader: LEADER, fleetScanMs: 500, log,
    ...(o.fleets ? { fleets: o.fleets } : {}),
    observer: { statusWritten: (fleet, status) => statusWrites.push({ fleet, atMs: clock.nowMs(), status }) },
  });
  const controller: Controller = {
    holder: o.holder, manager, dead: false, statusWrites, lines,
    kill() {
      controller.dead = true;
      abort.abort(new Error(`${o.holder} was killed`));
    },
    async stop() {
      abort.abort(new Error(`${o.holder} stopped`));
      await controller.done;
    },
    done: Promise.resolve(),
  };
  controller.done = manager.run(abort.signal);
  o.all.push(controller);
  return controller;
}

/**
 * Every command start that broke leadership: the sender was not the lease holder in the table at that
 * instant (another holder, a newer token, an expired lease) or another live controller was leading the fleet.
 */
export function leaseViolations(sends: SendRecord[]): string[] {
  const problems: string[] = [];
  for (const s of sends) {
    const what = `${s.holder} sent ${s.mode} ${s.attemptId} for ${s.fleet} at ${s.atMs}`;
    if (!s.lease) problems.push(`${what} with no lease item in the table`);
    else if (s.lease.holder !== s.holder) problems.push(`${what} while the table names ${s.lease.holder || 'nobody'} as holder`);
    else if (s.lease.token !== s.token) problems.push(`${what} under token ${s.token} while the lease has token ${s.lease.token}`);
    else if (s.lease.expiresAtMs <= s.atMs) problems.push(`${what} after its lease expired at ${s.lease.expiresAtMs}`);
    if (s.othersLeading.length > 0) problems.push(`${what} while ${s.othersLeading.join(', ')} also led it`);
  }
  return problems;
}

/** How many commands each (attempt, host) pair got: a sync attempt must reach a host at most once. */
export function commandsPerAttempt(sends: SendRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sends) {
    if (s.mode !== 'sync') continue;
    for (const id of s.instanceIds) counts.set(`${s.attemptId}/${id}`, (counts.get(`${s.attemptId}/${id}`) ?? 0) + 1);
  }
  return counts;
}

/**
 * One suite file's table and controllers: the table is started before its tests and stopped after them; every
 * controller a test puts in `running` is stopped (or, if it was killed, awaited) after that test.
 */
export function suiteTable(fleetPrefix: string): { readonly table: Table; running: Controller[]; fleetName(): string } {
  const running: Controller[] = [];
  let table: Table | undefined;
  let fleetSeq = 0;
  beforeAll(async () => {
    table = await startTable();
  });
  afterEach(async () => {
    for (const c of running.splice(0)) {
      if (!c.dead) await c.stop();
      else await c.done;
    }
  });
  afterAll(async () => {
    await table?.stop();
  });
  return {
    get table(): Table {
      if (!table) throw new Error('the suite\'s table is started in beforeAll: use it inside a test');
      return table;
    },
    running,
    fleetName: () => `${fleetPrefix}-${++fleetSeq}`,
  };
}
