/**
 * The Store port on one DynamoDB table (key schema in tableSchema.ts). Single-item conditional writes only
 * (dynalite, the embedded DynamoDB, has no transactions), strongly consistent reads, every Query paginated.
 *
 * Item layout (pk, sk):
 *   FLEET        <name>                      spec: name, generation, spec (map), updatedAtMs
 *   FLEET#<name> STATUS                      status (map), token
 *   FLEET#<name> HOST#<instanceId>           host (map: instanceId, state, context), token; or a tombstone
 *                                             (token, deleted: true) once deleted, read as absent
 *   FLEET#<name> LEASE                       holder (absent once released), token, expiresAtMs
 *   FLEET#<name> HISTORY#<atMs:15>#<seq:10>#<rand>   event (map)
 *   CONTROLLER   <holder>                    expiresAtMs: a controller process's membership (fair-share leasing)
 *
 * Writes: a spec is created with attribute_not_exists(pk) and changed with generation = expected; status and
 * host writes (and host deletes) need attribute_not_exists(token) OR token <= the writer's token; a lease is
 * taken when it has no holder, has expired, or is the caller's (token = old token + 1, never reused since a
 * release keeps the token), renewed and released only with holder and token unchanged; history items are
 * created only if absent. Lease choices match MemoryStore (see its header).
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { FleetSpec, FleetStatus } from '../../state/spec.ts';
import type { HostRecord } from '../../state/host.ts';
import { parseFleetStatus, parseHostRecord, parseStoredFleet } from '../../state/storedItems.ts';
import type { ControllerRecord, FleetRecord, HistoryEvent, HostList, Lease, Store } from '../ports/store.ts';
import { ConflictError, MalformedItemError, StaleTokenError, rawGeneration } from '../errors.ts';
import { isConditionFailed, toStoreError } from './dynamoErrors.ts';

type Item = Record<string, unknown>;
type Key = { pk: string; sk: string };

const SPEC_PK = 'FLEET';
const CONTROLLER_PK = 'CONTROLLER';
const HOST_PREFIX = 'HOST#';
const HISTORY_PREFIX = 'HISTORY#';

/** The keys of every item kind; tests use them to write hand-edited (malformed) items. */
export const dynamoKeys = {
  fleetSpec: (name: string): Key => ({ pk: SPEC_PK, sk: name }),
  status: (fleet: string): Key => ({ pk: `FLEET#${fleet}`, sk: 'STATUS' }),
  host: (fleet: string, instanceId: string): Key => ({ pk: `FLEET#${fleet}`, sk: `${HOST_PREFIX}${instanceId}` }),
  lease: (fleet: string): Key => ({ pk: `FLEET#${fleet}`, sk: 'LEASE' }),
  controller: (holder: string): Key => ({ pk: CONTROLLER_PK, sk: holder }),
};

const FENCE_CONDITION = 'attribute_not_exists(#tok) OR #tok <= :tok';
/** item claims in flight at once when a new leader takes a fleet */
const CLAIM_CONCURRENCY = 16;

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Query page size (DynamoDB's own 1 MB pages when unset); small values let tests exercise paging. */
  pageSize?: number;
}

/** Host items as a HostList: tombstones (deleted hosts) skipped, unreadable items reported, not thrown. */
function hostListOf(items: ReadonlyArray<Record<string, unknown> | undefined>): HostList {
  const result: HostList = { hosts: [], malformed: [] };
  for (const item of items) {
    if (item === undefined || item.deleted === true) continue;
    const id = String(item.sk).slice(HOST_PREFIX.length);
    try {
      result.hosts.push(parseHostRecord(item.host));
    } catch (err) {
      result.malformed.push({ key: `host ${id}`, error: problemOf(err) });
    }
  }
  return result;
}

function problemOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class DynamoStore implements Store {
  private readonly doc: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly pageSize: number | undefined;
  /** orders history events of one millisecond appended by this process */
  private historySeq = 0;

  constructor(options: DynamoStoreOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.tableName = options.tableName;
    this.pageSize = options.pageSize;
  }

  async listFleets(): Promise<{ fleets: FleetRecord[]; malformed: Array<{ key: string; error: string }> }> {
    const items = await this.query({ pk: SPEC_PK }, 'list fleets');
    const fleets: FleetRecord[] = [];
    const malformed: Array<{ key: string; error: string }> = [];
    for (const item of items) {
      try {
        fleets.push(parseStoredFleet(specOf(item)));
      } catch (err) {
        malformed.push({ key: `fleet ${String(item.sk)}`, error: problemOf(err) });
      }
    }
    return { fleets, malformed };
  }

  async getFleet(name: string): Promise<FleetRecord | null> {
    const item = await this.get(dynamoKeys.fleetSpec(name), `read fleet ${name}`);
    if (item === undefined) return null;
    try {
      return parseStoredFleet(specOf(item));
    } catch (err) {
      throw new MalformedItemError(`the spec item of fleet ${name} cannot be read: ${problemOf(err)}; fix it with fleetsync fleet apply`,
        { cause: err, generation: rawGeneration(item) });
    }
  }

  async putFleetSpec(args: { name: string; spec: FleetSpec; expectedGeneration: number; nowMs: number }): Promise<FleetRecord> {
    const record: FleetRecord = {
      name: args.name, generation: args.expectedGeneration + 1, spec: structuredClone(args.spec), updatedAtMs: args.nowMs,
    };
    const creating = args.expectedGeneration === 0;
    try {
      await this.doc.send(new PutCommand({
        TableName: this.tableName,
        Item: { ...dynamoKeys.fleetSpec(args.name), ...record },
        ConditionExpression: creating ? 'attribute_not_exists(pk)' : '#gen = :expected',
        ...(creating ? {} : {
          ExpressionAttributeNames: { '#gen': 'generation' },
          ExpressionAttributeValues: { ':expected': args.expectedGeneration },
        }),
      }));
    } catch (err) {
      if (isConditionFailed(err)) throw await this.generationConflict(args.name, args.expectedGeneration, err);
      throw toStoreError(err, `write the spec of fleet ${args.name}`, this.tableName);
    }
    return record;
  }

  async getStatus(fleet: string): Promise<FleetStatus | null> {
    const item = await this.get(dynamoKeys.status(fleet), `read the status of fleet ${fleet}`);
    if (item === undefined) return null;
    try {
      return parseFleetStatus(item.status);
    } catch (err) {
      throw new MalformedItemError(`the status item of fleet ${fleet} cannot be read: ${problemOf(err)}`, { cause: err });
    }
  }

  async putStatus(args: { fleet: string; status: FleetStatus; token: number }): Promise<void> {
    await this.fencedPut(
      { ...dynamoKeys.status(args.fleet), status: args.status, token: args.token },
      args.token, { fleet: args.fleet, what: `status of fleet ${args.fleet}` });
  }

  async listHosts(fleet: string): Promise<HostList> {
    const items = await this.query({ pk: dynamoKeys.status(fleet).pk, skPrefix: HOST_PREFIX }, `list the hosts of fleet ${fleet}`);
    return hostListOf(items);
  }

  async putHost(args: { fleet: string; host: HostRecord; token: number }): Promise<void> {
    const id = args.host.instanceId;
    await this.fencedPut(
      { ...dynamoKeys.host(args.fleet, id), host: args.host, token: args.token },
      args.token, { fleet: args.fleet, what: `host ${id} of fleet ${args.fleet}` });
  }

  /**
   * Leaves a tombstone (the key and the deleter's token) rather than no item: a deposed leader's write still in
   * flight would otherwise find no token and create the item again. Tombstones are read as absent, and a later
   * leader's claim removes those two leader changes old.
   */
  async deleteHost(args: { fleet: string; instanceId: string; token: number }): Promise<void> {
    await this.fencedPut(
      { ...dynamoKeys.host(args.fleet, args.instanceId), token: args.token, deleted: true },
      args.token, { fleet: args.fleet, what: `host ${args.instanceId} of fleet ${args.fleet}` });
  }

  /**
   * One Query for the keys, then a token-only UpdateItem per item (CLAIM_CONCURRENCY at once) that returns the
   * item as it is at that instant: no host content is rewritten, so nothing a deposed leader wrote before is lost.
   */
  async claimFleet(args: { fleet: string; token: number }): Promise<HostList> {
    const pk = dynamoKeys.status(args.fleet).pk;
    const items = await this.query({ pk, skPrefix: HOST_PREFIX, keysOnly: true }, `list the hosts of fleet ${args.fleet}`);
    const keys: Key[] = [...items.map((item) => ({ pk, sk: String(item.sk) })), dynamoKeys.status(args.fleet)];
    const claimed: Array<Item | undefined> = new Array(keys.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const i = next++;
        claimed[i] = await this.claimItem(keys[i]!, args.fleet, args.token);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CLAIM_CONCURRENCY, keys.length) }, () => worker()));
    return hostListOf(claimed.slice(0, -1));
  }

  /** The item as it was when its token was raised, or undefined when it no longer exists. */
  private async claimItem(key: Key, fleet: string, token: number): Promise<Item | undefined> {
    const what = `${key.sk === 'STATUS' ? 'status' : `host ${key.sk.slice(HOST_PREFIX.length)}`} of fleet ${fleet}`;
    try {
      const { Attributes } = await this.doc.send(new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET #tok = :tok',
        ConditionExpression: `attribute_exists(pk) AND (${FENCE_CONDITION})`,
        ExpressionAttributeNames: { '#tok': 'token' },
        ExpressionAttributeValues: { ':tok': token },
        ReturnValues: 'ALL_OLD',
      }));
      // A tombstone two leader changes old: any write of the leader that deleted it has long landed or failed.
      if (Attributes?.deleted === true && typeof Attributes.token === 'number' && Attributes.token <= token - 2) {
        await this.doc.send(new DeleteCommand({
          TableName: this.tableName, Key: key, ConditionExpression: '#tok = :tok',
          ExpressionAttributeNames: { '#tok': 'token' }, ExpressionAttributeValues: { ':tok': token },
        })).catch((err: unknown) => {
          if (!isConditionFailed(err)) throw toStoreError(err, `remove the tombstone of ${what}`, this.tableName);
        });
      }
      return Attributes;
    } catch (err) {
      if (!isConditionFailed(err)) throw toStoreError(err, `claim the ${what}`, this.tableName);
      // Gone (deleted meanwhile) is fine; a newer token is not.
      if ((await this.get(key, `read the ${what}`)) === undefined) return undefined;
      throw staleToken(what, fleet, token, err);
    }
  }

  async getLease(fleet: string): Promise<Lease | null> {
    const item = await this.get(dynamoKeys.lease(fleet), `read the lease of fleet ${fleet}`);
    if (item === undefined || item.holder === undefined) return null;
    return leaseOf(fleet, item);
  }

  async acquireLease(args: { fleet: string; holder: string; durationMs: number; nowMs: number }): Promise<Lease | null> {
    try {
      const { Attributes } = await this.doc.send(new UpdateCommand({
        TableName: this.tableName,
        Key: dynamoKeys.lease(args.fleet),
        UpdateExpression: 'SET #holder = :holder, #exp = :exp, #tok = if_not_exists(#tok, :zero) + :one',
        ConditionExpression: 'attribute_not_exists(#holder) OR #exp <= :now OR #holder = :holder',
        ExpressionAttributeNames: { '#holder': 'holder', '#exp': 'expiresAtMs', '#tok': 'token' },
        ExpressionAttributeValues: {
          ':holder': args.holder, ':exp': args.nowMs + args.durationMs, ':now': args.nowMs, ':zero': 0, ':one': 1,
        },
        ReturnValues: 'ALL_NEW',
      }));
      return leaseOf(args.fleet, Attributes ?? {});
    } catch (err) {
      if (isConditionFailed(err)) return null;
      throw toStoreError(err, `acquire the lease of fleet ${args.fleet}`, this.tableName);
    }
  }

  async renewLease(args: { lease: Lease; durationMs: number; nowMs: number }): Promise<Lease | null> {
    const expiresAtMs = args.nowMs + args.durationMs;
    const changed = await this.changeOwnLease(args.lease, 'SET #exp = :exp', expiresAtMs, 'renew');
    return changed ? { ...args.lease, expiresAtMs } : null;
  }

  async releaseLease(lease: Lease): Promise<void> {
    // The token stays so the next acquire still gets a bigger one.
    await this.changeOwnLease(lease, 'SET #exp = :exp REMOVE #holder', 0, 'release');
  }

  async putController(record: ControllerRecord): Promise<void> {
    try {
      await this.doc.send(new PutCommand({
        TableName: this.tableName, Item: { ...dynamoKeys.controller(record.holder), expiresAtMs: record.expiresAtMs },
      }));
    } catch (err) {
      throw toStoreError(err, `record controller ${record.holder} as live`, this.tableName);
    }
  }

  async listControllers(): Promise<ControllerRecord[]> {
    const items = await this.query({ pk: CONTROLLER_PK }, 'list controllers');
    // An unreadable record counts as expired: membership only spreads fleets, it never decides who may act.
    return items.map((item) => ({ holder: String(item.sk), expiresAtMs: typeof item.expiresAtMs === 'number' ? item.expiresAtMs : 0 }));
  }

  async deleteController(record: ControllerRecord): Promise<void> {
    try {
      await this.doc.send(new DeleteCommand({
        TableName: this.tableName, Key: dynamoKeys.controller(record.holder),
        ConditionExpression: '#exp = :exp', ExpressionAttributeNames: { '#exp': 'expiresAtMs' },
        ExpressionAttributeValues: { ':exp': record.expiresAtMs },
      }));
    } catch (err) {
      if (isConditionFailed(err)) return;
      throw toStoreError(err, `remove the record of controller ${record.holder}`, this.tableName);
    }
  }

  async appendHistory(fleet: string, event: HistoryEvent): Promise<void> {
    const atKey = String(Math.max(0, Math.floor(event.atMs))).padStart(15, '0');
    const seq = String(++this.historySeq).padStart(10, '0');
    // The random part keeps events of one millisecond from different processes apart.
    const sk = `${HISTORY_PREFIX}${atKey}#${seq}#${randomBytes(4).toString('hex')}`;
    try {
      await this.doc.send(new PutCommand({
        TableName: this.tableName,
        Item: { pk: dynamoKeys.status(fleet).pk, sk, event },
        ConditionExpression: 'attribute_not_exists(sk)',
      }));
    } catch (err) {
      if (isConditionFailed(err)) throw new ConflictError(`history event ${sk} of fleet ${fleet} already exists; append it again`, { cause: err });
      throw toStoreError(err, `append to the history of fleet ${fleet}`, this.tableName);
    }
  }

  async listHistory(fleet: string, options?: { limit?: number }): Promise<HistoryEvent[]> {
    const items = await this.query(
      { pk: dynamoKeys.status(fleet).pk, skPrefix: HISTORY_PREFIX, newestFirst: true, limit: options?.limit },
      `read the history of fleet ${fleet}`);
    // History is for people to read: an event edited by hand is shown as it is rather than dropped.
    return items.map((item) => item.event as HistoryEvent);
  }

  private async get(key: Key, op: string): Promise<Item | undefined> {
    try {
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      return Item;
    } catch (err) {
      throw toStoreError(err, op, this.tableName);
    }
  }

  /** Every item of a partition (optionally under a sort-key prefix), page by page, up to `limit`. */
  private async query(
    q: { pk: string; skPrefix?: string; newestFirst?: boolean; limit?: number | undefined; keysOnly?: boolean }, op: string,
  ): Promise<Item[]> {
    const items: Item[] = [];
    const limit = q.limit === undefined ? Infinity : Math.max(0, Math.floor(q.limit));
    let startKey: Item | undefined;
    do {
      if (items.length >= limit) break;
      const pageLimit = Math.min(this.pageSize ?? Infinity, limit - items.length);
      const input: QueryCommandInput = {
        TableName: this.tableName,
        KeyConditionExpression: q.skPrefix === undefined ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: q.skPrefix === undefined && q.keysOnly !== true ? { '#pk': 'pk' } : { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: q.skPrefix === undefined ? { ':pk': q.pk } : { ':pk': q.pk, ':prefix': q.skPrefix },
        ConsistentRead: true,
        ...(q.keysOnly ? { ProjectionExpression: '#pk, #sk' } : {}),
        ScanIndexForward: q.newestFirst !== true,
        ExclusiveStartKey: startKey,
        ...(Number.isFinite(pageLimit) ? { Limit: pageLimit } : {}),
      };
      try {
        const page = await this.doc.send(new QueryCommand(input));
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } catch (err) {
        throw toStoreError(err, op, this.tableName);
      }
    } while (startKey !== undefined);
    return items.slice(0, limit);
  }

  private async fencedPut(item: Item, token: number, about: { fleet: string; what: string }): Promise<void> {
    try {
      await this.doc.send(new PutCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: FENCE_CONDITION,
        ExpressionAttributeNames: { '#tok': 'token' },
        ExpressionAttributeValues: { ':tok': token },
      }));
    } catch (err) {
      if (isConditionFailed(err)) throw staleToken(about.what, about.fleet, token, err);
      throw toStoreError(err, `write the ${about.what}`, this.tableName);
    }
  }

  /** Applies `update` to the lease only while it still carries this holder and token; false when it was lost. */
  private async changeOwnLease(lease: Lease, update: string, expiresAtMs: number, verb: string): Promise<boolean> {
    try {
      await this.doc.send(new UpdateCommand({
        TableName: this.tableName,
        Key: dynamoKeys.lease(lease.fleet),
        UpdateExpression: update,
        ConditionExpression: '#holder = :holder AND #tok = :tok',
        ExpressionAttributeNames: { '#holder': 'holder', '#tok': 'token', '#exp': 'expiresAtMs' },
        ExpressionAttributeValues: { ':holder': lease.holder, ':tok': lease.token, ':exp': expiresAtMs },
      }));
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw toStoreError(err, `${verb} the lease of fleet ${lease.fleet}`, this.tableName);
    }
  }

  /** Explains a lost generation condition with what is stored now (one extra read, on a rare path). */
  private async generationConflict(name: string, expected: number, cause: unknown): Promise<ConflictError> {
    let stored: unknown;
    try {
      stored = (await this.get(dynamoKeys.fleetSpec(name), `read fleet ${name}`))?.generation ?? null;
    } catch {
      stored = 'unknown';
    }
    const message = stored === null
      ? `fleet ${name} does not exist (expected generation ${expected}): create it first`
      : expected === 0
        ? `fleet ${name} already exists (generation ${String(stored)}): read it and change it instead`
        : `fleet ${name} changed meanwhile (generation ${String(stored)}, expected ${expected}): read it again and retry`;
    return new ConflictError(message, { cause });
  }
}

function specOf(item: Item): unknown {
  return { name: item.name, generation: item.generation, spec: item.spec, updatedAtMs: item.updatedAtMs };
}

function leaseOf(fleet: string, item: Item): Lease {
  const { holder, token, expiresAtMs } = item;
  if (typeof holder !== 'string' || typeof token !== 'number' || typeof expiresAtMs !== 'number') {
    throw new MalformedItemError(
      `the lease item of fleet ${fleet} cannot be read (holder ${JSON.stringify(holder)}, token ${JSON.stringify(token)}, expiresAtMs ${JSON.stringify(expiresAtMs)}): repair it by hand, keeping token at least as big as it was (tokens must never go down, or a deposed leader could write again)`);
  }
  return { fleet, holder, token, expiresAtMs };
}

function staleToken(what: string, fleet: string, token: number, cause: unknown): StaleTokenError {
  return new StaleTokenError(
    `${what}: this write carries lease token ${token} but a newer leader has written it; this process is no longer the leader of fleet ${fleet}`,
    { cause });
}
