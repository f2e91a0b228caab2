import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStore, dynamoKeys } from '../../controller/aws/dynamoStore.ts';
import { ensureTable } from '../../controller/aws/tableSchema.ts';
import { ConfigError, StoreUnavailableError } from '../../controller/errors.ts';
import type { Clock } from '../../controller/ports/clock.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { specFixture, storeContract } from './store.contract.ts';

const noWaitClock: Clock = {
  nowMs: () => 0,
  sleep: async () => undefined,
  setTimer: () => () => undefined,
};

let db: Dynalite;
let client: DynamoDBClient;
let tableCount = 0;

beforeAll(async () => {
  db = await startDynalite();
  client = db.client();
});
afterAll(async () => {
  await db.stop();
});

async function freshTable(): Promise<string> {
  const tableName = `fleetsync-test-${++tableCount}`;
  await ensureTable({ client, tableName, clock: noWaitClock });
  return tableName;
}

storeContract('DynamoStore on dynalite', {
  async create() {
    const tableName = await freshTable();
    const doc = DynamoDBDocumentClient.from(client);
    const put = async (item: Record<string, unknown>): Promise<void> => {
      await doc.send(new PutCommand({ TableName: tableName, Item: item }));
    };
    return {
      // page size 3: every list in the contract spans several pages
      store: new DynamoStore({ client, tableName, pageSize: 3 }),
      putRawHost: (fleet, instanceId, value) => put({ ...dynamoKeys.host(fleet, instanceId), host: value, token: 0 }),
      putRawFleet: (name, value) => put({ ...(value as Record<string, unknown>), ...dynamoKeys.fleetSpec(name) }),
    };
  },
});

describe('DynamoStore only', () => {
  it('pages without a page size too (DynamoDB 1 MB pages)', async () => {
    const store = new DynamoStore({ client, tableName: await freshTable() });
    for (let i = 0; i < 5; i++) await store.appendHistory('web', { type: 'deploy', atMs: i, actor: 'a', message: `m${i}` });
    expect((await store.listHistory('web', { limit: 2 })).map((e) => e.atMs)).toEqual([4, 3]);
  });

  it('reports a missing table as StoreUnavailableError that says to run init', async () => {
    const store = new DynamoStore({ client, tableName: 'no-such-table' });
    const err = await store.getFleet('web').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain('fleetsync init');
  });

  it('reports an unreachable endpoint as StoreUnavailableError with the cause', async () => {
    const closed = await startDynalite();
    const deadClient = closed.client();
    await closed.stop();
    const store = new DynamoStore({ client: deadClient, tableName: 't' });
    const err = await store.putFleetSpec({ name: 'web', spec: specFixture(), expectedGeneration: 0, nowMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect((err as Error).cause).toBeDefined();
  });
});

describe('ensureTable', () => {
  it('creates the table once, is idempotent, and waits until ACTIVE', async () => {
    const tableName = `ensure-${++tableCount}`;
    expect(await ensureTable({ client, tableName, clock: noWaitClock })).toEqual({ created: true });
    expect(await ensureTable({ client, tableName, clock: noWaitClock })).toEqual({ created: false });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('polls while the table is CREATING', async () => {
    const slow = await startDynalite({ createTableMs: 300 });
    try {
      let sleeps = 0;
      const clock: Clock = {
        nowMs: () => 0,
        sleep: async () => {
          sleeps++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        },
        setTimer: () => () => undefined,
      };
      const slowClient = slow.client();
      await ensureTable({ client: slowClient, tableName: 'slow', clock, pollIntervalMs: 50 });
      const { Table } = await slowClient.send(new DescribeTableCommand({ TableName: 'slow' }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(sleeps).toBeGreaterThan(0);
      // without a clock the SDK's waiter waits instead
      await ensureTable({ client: slowClient, tableName: 'slow-no-clock' });
      const after = await slowClient.send(new DescribeTableCommand({ TableName: 'slow-no-clock' }));
      expect(after.Table?.TableStatus).toBe('ACTIVE');
    } finally {
      await slow.stop();
    }
  });

  it('refuses a table with another key schema', async () => {
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    await client.send(new CreateTableCommand({
      TableName: 'foreign', BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    }));
    await expect(ensureTable({ client, tableName: 'foreign', clock: noWaitClock })).rejects.toBeInstanceOf(ConfigError);
  });
});
