/**
 * dynalite (an embedded DynamoDB) in-process on 127.0.0.1 with a free port, for tests. Tables become ACTIVE at
 * once. Every client it hands out has fake credentials and points at the loopback endpoint only.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}

// dynalite is CommonJS and ships no types.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => Server;

export interface Dynalite {
  endpoint: string;
  /** A client for this dynalite: fake credentials, region us-east-1, no retries (failures show at once). */
  client(): DynamoDBClient;
  stop(): Promise<void>;
}

export async function startDynalite(options: DynaliteOptions = {}): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...options });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  return {
    endpoint,
    client() {
      const client = new DynamoDBClient({
        endpoint, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * Points the AWS SDK of this process at `db`, as an operator's environment would (AWS mode of the CLI): fake
 * credentials, us-east-1, one attempt per call. Undo with vi.unstubAllEnvs().
 */
export function stubAwsEnvFor(db: Dynalite, stubEnv: (name: string, value: string) => unknown): void {
  stubEnv('AWS_ENDPOINT_URL_DYNAMODB', db.endpoint);
  stubEnv('AWS_REGION', 'us-east-1');
  stubEnv('AWS_ACCESS_KEY_ID', 'test');
  stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  stubEnv('AWS_MAX_ATTEMPTS', '1');
}
