/**
 * The one DynamoDB table fleetsync uses: the infrastructure (CDK), `fleetsync init` and the embedded default all
 * create it from here, so they cannot drift apart. Item layout: see controller/aws/dynamoStore.ts.
 */
import {
  CreateTableCommand, DescribeTableCommand, waitUntilTableExists, type CreateTableCommandInput, type DynamoDBClient,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../ports/clock.ts';
import { ConfigError, StoreUnavailableError } from '../errors.ts';
import { sdkErrorCode } from './sdkErrors.ts';
import { toStoreError } from './dynamoErrors.ts';

/** The key attributes: both strings; no indexes, no TTL (dynalite has none, and nothing relies on one). */
export const TABLE_KEYS = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
} as const;

export const TABLE_BILLING_MODE = 'PAY_PER_REQUEST';

export const TABLE_KEY_SCHEMA: KeySchemaElement[] = [
  { AttributeName: TABLE_KEYS.partitionKey.name, KeyType: 'HASH' },
  { AttributeName: TABLE_KEYS.sortKey.name, KeyType: 'RANGE' },
];

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    KeySchema: TABLE_KEY_SCHEMA,
    AttributeDefinitions: [
      { AttributeName: TABLE_KEYS.partitionKey.name, AttributeType: TABLE_KEYS.partitionKey.type },
      { AttributeName: TABLE_KEYS.sortKey.name, AttributeType: TABLE_KEYS.sortKey.type },
    ],
    BillingMode: TABLE_BILLING_MODE,
  };
}

export interface EnsureTableOptions {
  client: DynamoDBClient;
  tableName: string;
  /** polls with this clock; without one, the SDK's table waiter does the waiting */
  clock?: Clock;
  signal?: AbortSignal;
  pollIntervalMs?: number;
  /** how long to wait for the table to become ACTIVE */
  timeoutMs?: number;
}

/**
 * Creates the table when it is missing and waits until it is ACTIVE. Idempotent: a table that exists (or that
 * another process is creating right now) is fine, as long as its key schema is fleetsync's.
 * Returns whether this call created it.
 */
export async function ensureTable(options: EnsureTableOptions): Promise<{ created: boolean }> {
  const { client, tableName, clock, signal } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 300_000;
  let created = false;
  let status = await describeStatus(options);
  if (status === null) {
    try {
      await client.send(new CreateTableCommand(tableDefinition(tableName)), { abortSignal: signal });
      created = true;
    } catch (err) {
      if (sdkErrorCode(err) !== 'ResourceInUseException') throw toStoreError(err, `CreateTable ${tableName}`, tableName);
    }
    status = await describeStatus(options);
  }
  if (status !== 'ACTIVE' && clock === undefined) {
    await waitWithSdk(options, timeoutMs);
    status = await describeStatus(options);
  }
  const deadlineMs = (clock?.nowMs() ?? 0) + timeoutMs;
  while (status !== 'ACTIVE') {
    if (clock === undefined || clock.nowMs() >= deadlineMs) {
      throw new StoreUnavailableError(
        `table ${tableName} is still ${status ?? 'missing'} after ${Math.round(timeoutMs / 1000)} s: check it in the DynamoDB console and run init again`);
    }
    await clock.sleep(pollIntervalMs, signal);
    status = await describeStatus(options);
  }
  return { created };
}

async function waitWithSdk(options: EnsureTableOptions, timeoutMs: number): Promise<void> {
  const { client, tableName, signal } = options;
  try {
    await waitUntilTableExists(
      { client, minDelay: 1, maxDelay: 5, maxWaitTime: Math.max(1, Math.ceil(timeoutMs / 1000)), ...(signal ? { abortSignal: signal } : {}) },
      { TableName: tableName });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    // a timeout is reported below with the table's last status
    if (sdkErrorCode(err) !== 'TimeoutError') {
      throw toStoreError(err, `wait for table ${tableName}`, tableName);
    }
  }
}

/** The table's status, null when it does not exist; refuses a table whose keys are not fleetsync's. */
async function describeStatus(options: EnsureTableOptions): Promise<string | null> {
  const { client, tableName, signal } = options;
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }), { abortSignal: signal });
    const keys = (Table?.KeySchema ?? []).map((k) => `${k.AttributeName ?? ''}:${k.KeyType ?? ''}`).sort().join(',');
    const wanted = TABLE_KEY_SCHEMA.map((k) => `${k.AttributeName ?? ''}:${k.KeyType ?? ''}`).sort().join(',');
    if (Table?.KeySchema !== undefined && keys !== wanted) {
      throw new ConfigError(
        `table ${tableName} exists with key schema ${keys}, but fleetsync needs ${wanted}: choose another table name (--table or FLEETSYNC_TABLE)`);
    }
    return Table?.TableStatus ?? 'UNKNOWN';
  } catch (err) {
    if (sdkErrorCode(err) === 'ResourceNotFoundException') return null;
    throw toStoreError(err, `DescribeTable ${tableName}`, tableName);
  }
}
