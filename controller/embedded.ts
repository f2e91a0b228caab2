/**
 * The embedded default (no FLEETSYNC_TABLE): everything the controller needs, on this machine, laid out in
 * $FLEETSYNC_HOME (see controller/local/embedded.ts for the layout). A wiring module: it alone joins the
 * local adapters to the DynamoDB store (dynalite, an embedded DynamoDB, persisting in db/).
 *
 * First start: seeds the sample revisions, creates the local fleet `demo` (3 hosts installed at v1) and its
 * spec. Later starts keep everything (the table, the group file, the host folders) and add only what is missing.
 */
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Artifacts } from './ports/artifacts.ts';
import type { Clock } from './ports/clock.ts';
import type { Store } from './ports/store.ts';
import type { Logger } from './log.ts';
import { ConflictError } from './errors.ts';
import { DynamoStore } from './aws/dynamoStore.ts';
import { ensureTable } from './aws/tableSchema.ts';
import { LocalArtifacts } from './local/localArtifacts.ts';
import { DEFAULT_SCRIPT_PATH, LocalCommands } from './local/localCommands.ts';
import { LocalFleet } from './local/localFleet.ts';
import { LocalGroup, assertHome } from './local/localGroup.ts';
import { LocalLaunchEvents } from './local/localLaunchEvents.ts';
import { LocalTraffic } from './local/localTraffic.ts';
import { seedSampleRevisions } from './local/sampleApp.ts';
import { releaseDeadLeases } from './local/deadLeases.ts';
import { pidAlive } from './local/pid.ts';
import {
  DEMO_FLEET, claimHome, demoSpec, ensureDemoHosts, removeControllerFile, writeControllerFile,
} from './local/embedded.ts';

export const EMBEDDED_TABLE = 'fleetsync';
export const DEFAULT_HTTP_ENDPOINT = 'http://127.0.0.1:9870';

// dynalite is CommonJS and ships no types.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number;
}) => Server;

export interface EmbeddedOptions {
  /** $FLEETSYNC_HOME, resolved to an absolute path here */
  home: string;
  log: Logger;
  clock: Clock;
  /** dynalite's port on 127.0.0.1 (a free one when left out) */
  dynamoPort?: number;
  /** where the controller's HTTP server listens, published in controller.json */
  httpEndpoint?: string;
  /** the host script (tests may point elsewhere) */
  scriptPath?: string;
  /** how long a scaled-in local host stays Terminating */
  terminatingMs?: number;
}

export interface Embedded {
  store: Store;
  fleetPort: LocalFleet;
  commands: LocalCommands;
  traffic: LocalTraffic;
  artifacts: Artifacts;
  /** written by `fleetsync local scale` for each host it adds, followed by the demo fleet's leader */
  launchEvents: LocalLaunchEvents;
  home: string;
  dynamoEndpoint: string;
  table: string;
  /** lines telling the operator where everything is and what to try */
  describe: string[];
  /** Publishes the controller's HTTP address in controller.json, once its server listens. */
  announce(httpEndpoint: string): Promise<void>;
  /** Stops dynalite, kills running commands and removes controller.json; the state stays for the next start. */
  close(): Promise<void>;
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function stopServer(server: Server): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const home = path.resolve(options.home);
  assertHome(home);
  const { log, clock } = options;
  await mkdir(home, { recursive: true });
  const release = await claimHome(home);

  const cleanups: Array<() => Promise<void>> = [release];
  const cleanUp = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step().catch((err: unknown) => log.warn({ err }, 'embedded default: clean-up step failed'));
  };
  try {
    const server = dynalite({ path: path.join(home, 'db'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    cleanups.push(() => stopServer(server));
    const port = await listen(server, options.dynamoPort ?? 0);
    const dynamoEndpoint = `http://127.0.0.1:${port}`;
    // dynalite checks no signature, but the SDK wants credentials and a region to sign with
    const client = new DynamoDBClient({
      endpoint: dynamoEndpoint, region: 'local', credentials: { accessKeyId: 'fleetsync', secretAccessKey: 'fleetsync' },
    });
    cleanups.push(() => Promise.resolve(client.destroy()));
    await ensureTable({ client, tableName: EMBEDDED_TABLE, clock, pollIntervalMs: 50 });
    const store = new DynamoStore({ client, tableName: EMBEDDED_TABLE });

    const seeded = await seedSampleRevisions(path.join(home, 'artifacts'));
    if (seeded.length > 0) log.info({ revisions: seeded }, `seeded sample revisions in ${path.join(home, 'artifacts')}`);

    const scriptPath = options.scriptPath ?? DEFAULT_SCRIPT_PATH;
    const group = new LocalGroup({ home, clock });
    const fleetPort = new LocalFleet({ group, clock, ...(options.terminatingMs !== undefined ? { terminatingMs: options.terminatingMs } : {}) });
    const commands = new LocalCommands({ home, clock, scriptPath });
    const launchEvents = new LocalLaunchEvents({ home, clock, log });
    cleanups.push(() => commands.close());

    const spec = demoSpec(home);
    const created = await ensureDemoHosts({ home, group, fleet: fleetPort, scriptPath, spec });
    if (created.length > 0) log.info({ hosts: created }, `created the local fleet ${DEMO_FLEET}: ${created.length} hosts at ${spec.revision} in ${group.hostsDir}`);
    if (!(await store.getFleet(DEMO_FLEET))) {
      try {
        const record = await store.putFleetSpec({ name: DEMO_FLEET, spec, expectedGeneration: 0, nowMs: clock.nowMs() });
        await store.appendHistory(DEMO_FLEET, {
          type: 'apply', atMs: clock.nowMs(), actor: 'controller', generation: record.generation, revision: spec.revision,
          message: `fleet ${DEMO_FLEET} created by the embedded default (local hosts in ${group.hostsDir})`,
        });
        log.info(`applied the fleet ${DEMO_FLEET} (source ${spec.source}, revision ${spec.revision})`);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }

    await releaseDeadLeases({ store, hostname: os.hostname(), pidAlive, nowMs: clock.nowMs(), log });

    const announce = (httpEndpoint: string): Promise<void> => writeControllerFile(home, {
      pid: process.pid, dynamoEndpoint, table: EMBEDDED_TABLE, httpEndpoint,
    });
    await announce(options.httpEndpoint ?? DEFAULT_HTTP_ENDPOINT);
    cleanups.push(() => removeControllerFile(home));

    const demoHosts = (await group.read()).groups[DEMO_FLEET]?.length ?? 0;
    const describe = [
      `embedded default in ${home}`,
      `  store: dynalite (embedded DynamoDB) on ${dynamoEndpoint}, table ${EMBEDDED_TABLE}, data in ${path.join(home, 'db')}`,
      `  revisions: ${path.join(home, 'artifacts')} (samples v1 and v2; add a folder to add a revision)`,
      `  local fleet ${DEMO_FLEET}: ${demoHosts} host(s), each a folder in ${group.hostsDir}`,
      `try, from another terminal (the CLI finds this controller through FLEETSYNC_HOME=${home}, default ./.fleetsync):`,
      `  npx fleetsync deploy ${DEMO_FLEET} v2`,
      `  npx fleetsync status ${DEMO_FLEET} --watch`,
      `  npx fleetsync local scale ${DEMO_FLEET} 5`,
    ];

    let closing: Promise<void> | undefined;
    return {
      store, fleetPort, commands, traffic: new LocalTraffic(), artifacts: new LocalArtifacts(), launchEvents, home, dynamoEndpoint,
      table: EMBEDDED_TABLE, describe, announce,
      close: () => (closing ??= cleanUp()),
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}
