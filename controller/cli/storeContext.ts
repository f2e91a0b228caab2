/**
 * Where the CLI's store and artifacts are (design Contract): the only place the CLI chooses adapters.
 * `--table` or FLEETSYNC_TABLE: AWS mode, DynamoDB from the standard chain (AWS_REGION, AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_DYNAMODB are read by the SDK). Unset: the embedded default, whose running controller
 * publishes its DynamoDB endpoint in $FLEETSYNC_HOME/controller.json.
 * AWS SDK modules are imported on first use so `--help` and bad input answer fast.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { normalFolder, systemTreeOf } from '../../state/validate.ts';
import type { ArtifactStore } from '../ports/artifacts.ts';
import type { Clock } from '../ports/clock.ts';
import type { Store } from '../ports/store.ts';
import { OperationError, UsageError } from './cliErrors.ts';
import { StoreUnavailableError } from '../errors.ts';
import { pidAlive } from '../local/pid.ts';
import { sdkErrorCode } from '../aws/sdkErrors.ts';

export const DEFAULT_HOME = './.fleetsync';
export const CONTROLLER_FILE = 'controller.json';
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

export interface StoreContext {
  mode: 'aws' | 'embedded';
  table: string;
  /** where the store is, for messages */
  describe: string;
  store: Store;
  /** Creates the table when missing and waits until it is active. */
  initTable(): Promise<{ created: boolean }>;
  /** The Artifacts adapter for a fleet's source scheme. */
  artifactsFor(source: string): Promise<ArtifactStore>;
  close(): void;
}

/** What the running embedded controller writes so the CLI can find it. */
export interface ControllerFile {
  pid: number;
  dynamoEndpoint: string;
  table: string;
  httpEndpoint?: string;
}

export function checkTableName(table: string, what: string): void {
  if (!TABLE_NAME.test(table)) {
    throw new UsageError(`${what} ${JSON.stringify(table)} is not a DynamoDB table name: use 3-255 letters, digits, _ . -`);
  }
}

/**
 * $FLEETSYNC_HOME, else ./.fleetsync — unless the working folder is inside a system folder (a clone in /root or
 * /usr/src, say): local hosts' folders are sync destinations, which the host agent refuses there, so the default
 * moves to /var/tmp/fleetsync-<hash of that path>, the same for the controller and every CLI call made there.
 */
export function fleetsyncHome(env: Record<string, string | undefined>, cwd: string): string {
  if (env.FLEETSYNC_HOME) return path.resolve(cwd, env.FLEETSYNC_HOME);
  const local = path.resolve(cwd, DEFAULT_HOME);
  if (systemTreeOf(normalFolder(local)) === undefined) return local;
  return path.join('/var/tmp', `fleetsync-${createHash('sha256').update(local).digest('hex').slice(0, 12)}`);
}

function parseControllerFile(text: string, file: string): ControllerFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OperationError(`${file} is not JSON (${(err as Error).message}): restart the controller with \`npm start\``);
  }
  const v = value as Partial<ControllerFile> | null;
  const endpointOk = typeof v?.dynamoEndpoint === 'string' && /^https?:\/\/[^\s/]+\/?$/.test(v.dynamoEndpoint);
  if (!v || !Number.isInteger(v.pid) || !endpointOk || typeof v.table !== 'string' || !TABLE_NAME.test(v.table)) {
    throw new OperationError(`${file} does not hold { pid, dynamoEndpoint, table }: restart the controller with \`npm start\``);
  }
  return v as ControllerFile;
}

async function readControllerFile(home: string): Promise<ControllerFile> {
  const file = path.join(home, CONTROLLER_FILE);
  const notRunning = `no controller is running in ${home}: start it with \`npm start\``
    + ' (or set FLEETSYNC_TABLE / --table to use a DynamoDB table in AWS)';
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OperationError(notRunning);
    throw new OperationError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const controller = parseControllerFile(text, file);
  if (!pidAlive(controller.pid)) throw new OperationError(`${notRunning} (process ${controller.pid} has exited)`);
  return controller;
}

/**
 * The controller named in controller.json does not answer (killed with -9, so it left the file behind): still
 * a store that cannot be reached, so `status --watch` keeps trying, but said in terms of the embedded default.
 */
export class ControllerNotRunningError extends StoreUnavailableError {}

/**
 * The embedded store lives in the controller's process: when its endpoint refuses connections, that process
 * is gone (or is not the controller any more), whatever its pid says. The SDK's "check AWS_REGION" would mislead.
 */
function embeddedStore(store: Store, args: { file: string; controller: ControllerFile }): Store {
  const translate = (err: unknown): unknown => {
    if (!(err instanceof StoreUnavailableError) || sdkErrorCode(err.cause) === 'ResourceNotFoundException') return err;
    return new ControllerNotRunningError(`the controller recorded in ${args.file} (pid ${args.controller.pid}) is not running:`
      + ` its store at ${args.controller.dynamoEndpoint} does not answer (${sdkErrorCode(err.cause) ?? err.message});`
      + ' start it with `npm start`', { cause: err });
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...callArgs: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, callArgs);
        return result instanceof Promise ? result.catch((err: unknown) => { throw translate(err); }) : result;
      };
    },
  });
}

export async function openStoreContext(args: {
  table?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
}): Promise<StoreContext> {
  const table = args.table ?? (args.env.FLEETSYNC_TABLE || undefined);
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { DynamoStore } = await import('../aws/dynamoStore.ts');
  const { ensureTable } = await import('../aws/tableSchema.ts');

  let client: InstanceType<typeof DynamoDBClient>;
  let context: Pick<StoreContext, 'mode' | 'table' | 'describe'>;
  let wrap = (store: Store): Store => store;
  if (table !== undefined) {
    checkTableName(table, args.table !== undefined ? '--table' : 'FLEETSYNC_TABLE');
    client = new DynamoDBClient({});
    context = { mode: 'aws', table, describe: `DynamoDB table ${table}` };
  } else {
    const home = fleetsyncHome(args.env, args.cwd);
    const controller = await readControllerFile(home);
    // the embedded DynamoDB checks no signature, but the SDK wants some credentials and a region to sign with
    client = new DynamoDBClient({
      endpoint: controller.dynamoEndpoint,
      region: 'local',
      credentials: { accessKeyId: 'fleetsync', secretAccessKey: 'fleetsync' },
    });
    wrap = (store) => embeddedStore(store, { file: path.join(home, CONTROLLER_FILE), controller });
    context = {
      mode: 'embedded',
      table: controller.table,
      describe: `the embedded store of the controller in ${home} (${controller.dynamoEndpoint})`,
    };
  }

  const store = wrap(new DynamoStore({ client, tableName: context.table }));
  const artifacts = openArtifacts(args.env);
  return {
    ...context,
    store,
    initTable: () => ensureTable({ client, tableName: context.table, clock: args.clock }),
    artifactsFor: (source) => artifacts.artifactsFor(source),
    close: () => {
      client.destroy();
      artifacts.close();
    },
  };
}

export interface ArtifactsContext {
  /** The adapter for a source's scheme: file:/// or s3:// (one S3 client, made on first use). */
  artifactsFor(source: string): Promise<ArtifactStore>;
  close(): void;
}

/** Artifacts alone (publish --source needs no store); S3 from the standard AWS settings. */
export function openArtifacts(env: Record<string, string | undefined>): ArtifactsContext {
  let s3: { client: { destroy(): void }; artifacts: ArtifactStore } | undefined;
  return {
    async artifactsFor(source: string): Promise<ArtifactStore> {
      if (source.startsWith('file:///')) {
        const { LocalArtifacts } = await import('../local/localArtifacts.ts');
        return new LocalArtifacts();
      }
      if (source.startsWith('s3://')) {
        if (!s3) {
          const { S3Client } = await import('@aws-sdk/client-s3');
          const { S3Artifacts } = await import('../aws/s3Artifacts.ts');
          // emulators behind an endpoint override rarely serve bucket-named hosts; a bucket elsewhere answers 301
          const override = Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
          const s3Client = new S3Client({ forcePathStyle: override, followRegionRedirects: true });
          s3 = { client: s3Client, artifacts: new S3Artifacts({ client: s3Client }) };
        }
        return s3.artifacts;
      }
      throw new UsageError(`source ${JSON.stringify(source)} is neither s3:// nor file:///: fix the fleet's spec.source`);
    },
    close: () => {
      s3?.client.destroy();
      s3 = undefined;
    },
  };
}
