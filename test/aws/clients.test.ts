/**
 * The real SDK stack (no send stub) against a loopback HTTP server: the endpoint comes from
 * AWS_ENDPOINT_URL[_<SERVICE>] alone, adaptive retry absorbs a throttle, and the per-attempt counter sees it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { DynamoStore } from '../../controller/aws/dynamoStore.ts';
import { type AwsClients, destroyAwsClients, makeAwsClients } from '../../controller/aws/clients.ts';
import { buildManifest, renderManifest } from '../../state/manifest.ts';
import { S3Artifacts } from '../../controller/aws/s3Artifacts.ts';
import { SsmCommands } from '../../controller/aws/ssmCommands.ts';
import { ThrottledError } from '../../controller/errors.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';

interface Seen { method: string; url: string; target?: string }
interface Reply { status: number; body: string; contentType: string }

let server: Server;
let endpoint: string;
const seen: Seen[] = [];
let replies: Reply[] = [];
const savedEnv = { ...process.env };

const throttle: Reply = {
  status: 400, contentType: 'application/x-amz-json-1.1',
  body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
};
const LINE = 'FLEETSYNC-RESULT {"revision":"3f9c2ab","status":"synced"}';
const invocations: Reply = {
  status: 200, contentType: 'application/x-amz-json-1.1',
  body: JSON.stringify({ CommandInvocations: [{
    CommandId: 'cmd-1', InstanceId: 'i-0123456789abcdef0', Status: 'Success',
    CommandPlugins: [{ Name: 'sync', Status: 'Success', ResponseCode: 0, Output: LINE }],
  }] }),
};

/** a server that takes the request and never answers */
const hang: Reply = { status: 0, contentType: 'text/plain', body: '' };

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.on('end', resolve);
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void drain(req).then(() => {
      const target = req.headers['x-amz-target'];
      seen.push({ method: req.method ?? '', url: req.url ?? '', ...(typeof target === 'string' ? { target } : {}) });
      const reply = replies.shift() ?? { status: 500, contentType: 'text/plain', body: 'no reply scripted' };
      if (reply === hang) return;
      res.writeHead(reply.status, { 'content-type': reply.contentType });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/nonexistent/fleetsync-test-config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/fleetsync-test-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    // the service-specific variable wins for SSM; everything else (S3 here) falls back to the generic one
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_SSM: endpoint,
  });
});

afterAll(async () => {
  process.env = savedEnv;
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

let clients: AwsClients | undefined;
beforeEach(() => {
  seen.length = 0;
  replies = [];
  if (clients) destroyAwsClients(clients);
  clients = undefined;
});

describe('makeAwsClients', () => {
  it('reaches the endpoint of AWS_ENDPOINT_URL_SSM; adaptive retry absorbs a throttle, counted per attempt', async () => {
    const attempts = new CallTally();
    const calls = new CallTally();
    clients = makeAwsClients({ maxAttempts: 3, onAttempt: attempts.onCall });
    expect(await clients.ssm.config.retryStrategy()).toMatchObject({ mode: 'adaptive' });
    replies = [throttle, invocations];
    const commands = new SsmCommands({ client: clients.ssm, clock: new VirtualClock(), onCall: calls.onCall });

    const results = await commands.results('cmd-1');

    expect(results).toEqual([{ instanceId: 'i-0123456789abcdef0', status: 'success', exitCode: 0, result: { revision: '3f9c2ab', status: 'synced' } }]);
    expect(seen.map((s) => s.target)).toEqual(['AmazonSSM.ListCommandInvocations', 'AmazonSSM.ListCommandInvocations']);
    expect(attempts.get('ListCommandInvocations')).toEqual({ ok: 1, throttled: 1, error: 0 });
    expect(calls.get('ListCommandInvocations')).toEqual({ ok: 1, throttled: 0, error: 0 });
  });

  it('gives ThrottledError, with the SDK error as cause, once the retries are spent', async () => {
    const attempts = new CallTally();
    clients = makeAwsClients({ maxAttempts: 2, onAttempt: attempts.onCall });
    replies = [throttle, throttle];
    const commands = new SsmCommands({ client: clients.ssm, clock: new VirtualClock() });
    const error = await commands.results('cmd-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as Error).cause).toMatchObject({ name: 'ThrottlingException' });
    expect(attempts.get('ListCommandInvocations')).toEqual({ ok: 0, throttled: 2, error: 0 });
  });

  it('sends S3 to AWS_ENDPOINT_URL, path-style', async () => {
    clients = makeAwsClients({});
    const manifest = renderManifest(buildManifest({
      revision: 'r1', publishedBy: 'ci', publishedAt: '2026-11-25T00:00:00.000Z',
      files: [{ path: 'index.php', sha256: 'e'.repeat(64), size: 3, mode: '644' }],
    }));
    replies = [{ status: 200, contentType: 'application/json', body: manifest }];
    const check = await new S3Artifacts({ client: clients.s3 }).check({ source: 's3://my-codebase/web', revision: 'r1' });
    expect(check).toEqual({ exists: true, kind: 'manifest', files: 1, bytes: 3, where: 's3://my-codebase/web/r1/' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toMatch(/^\/my-codebase\/web\/r1\/manifest\.json(\?x-id=GetObject)?$/);
  });

  it('gives up on a store call the table never answers after the request timeout, so a hung renew cannot hold a leader', async () => {
    clients = makeAwsClients({ maxAttempts: 1, storeRequestTimeoutMs: 300 });
    replies = [hang];
    const store = new DynamoStore({ client: clients.dynamodb, tableName: 'fleetsync' });
    const started = Date.now();
    const error = await store.getLease('web').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(seen.map((s) => s.target)).toEqual(['DynamoDB_20120810.GetItem']);
  });

  it('sends SendCommand once, with no SDK retry after a 5xx (it has no idempotency token: a retry could start it twice)', async () => {
    const attempts = new CallTally();
    clients = makeAwsClients({ maxAttempts: 3, onAttempt: attempts.onCall });
    const sent: Reply = { status: 200, contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ Command: { CommandId: 'cmd-2' } }) };
    replies = [{ status: 503, contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ __type: 'InternalServerError', message: 'try again' }) }, sent];
    const commands = new SsmCommands({ client: clients.ssm, clock: new VirtualClock() });
    const error = await commands.send({
      fleet: 'web', attemptId: 'a-1-1', mode: 'sync', instanceIds: ['i-0123456789abcdef0'], timeoutSeconds: 900,
      params: { source: 's3://my-codebase/web', revision: 'r1', destination: '/var/www/app', strategy: 'release', excludes: [], links: {}, keepReleases: 3 },
    }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/try again/);
    expect(seen.map((s) => s.target)).toEqual(['AmazonSSM.SendCommand']);
    // the other operations keep the SDK's retries
    replies = [throttle, invocations];
    expect(await commands.results('cmd-1')).toHaveLength(1);
  });
});
