/** The controller's configuration: environment, file and flags, each bad value named with where it came from. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../controller/config.ts';
import { ConfigError } from '../../controller/errors.ts';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), 'fleetsync-config-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function failure(options: Parameters<typeof loadConfig>[0]): Promise<string> {
  const error = await loadConfig(options).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as Error).message;
}

describe('loadConfig', () => {
  it('has the documented defaults, and no table (the embedded default) without FLEETSYNC_TABLE', async () => {
    const config = await loadConfig({ env: { AWS_REGION: 'eu-west-1' } });
    expect(config).toMatchObject({
      region: 'eu-west-1', fleets: [], resyncSeconds: 30, concurrency: 64, httpPort: 9870, logLevel: 'info',
      leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2, documentName: 'fleetsync-sync',
      home: './.fleetsync',
    });
    // AWS_REGION alone never switches to AWS mode (design Contract)
    expect(config.table).toBeUndefined();
    expect(config.pollSeconds).toBeUndefined();
  });

  it('reads the environment', async () => {
    const config = await loadConfig({
      env: {
        FLEETSYNC_TABLE: 'fleetsync-prod', FLEETSYNC_FLEETS: 'web-prod, api-prod', FLEETSYNC_RESYNC_SECONDS: '15',
        FLEETSYNC_POLL_SECONDS: '2.5', FLEETSYNC_HTTP_PORT: '9000', FLEETSYNC_LOG_LEVEL: 'debug', FLEETSYNC_CONCURRENCY: '8',
      },
    });
    expect(config).toMatchObject({
      table: 'fleetsync-prod', fleets: ['web-prod', 'api-prod'], resyncSeconds: 15, pollSeconds: 2.5, httpPort: 9000,
      logLevel: 'debug', concurrency: 8,
    });
  });

  it('takes flags over the environment over the file', async () => {
    const file = path.join(dir, 'settings.yaml');
    await writeFile(file, 'httpPort: 7000\nresyncSeconds: 60\nlogLevel: warn\nleaseDurationSeconds: 30\n');
    const config = await loadConfig({ env: { FLEETSYNC_HTTP_PORT: '8000', FLEETSYNC_CONFIG: file }, flags: { httpPort: 9000 } });
    expect(config).toMatchObject({ httpPort: 9000, resyncSeconds: 60, logLevel: 'warn', leaseDurationSeconds: 30 });
  });

  it('names a bad environment variable and what is allowed', async () => {
    const message = await failure({ env: { FLEETSYNC_HTTP_PORT: 'eighty' } });
    expect(message).toContain('httpPort (from FLEETSYNC_HTTP_PORT)');
    const level = await failure({ env: { FLEETSYNC_LOG_LEVEL: 'loud' } });
    expect(level).toContain('logLevel (from FLEETSYNC_LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent');
    const fleets = await failure({ env: { FLEETSYNC_FLEETS: 'web-prod,Bad_Name' } });
    expect(fleets).toContain('fleets.1 (from FLEETSYNC_FLEETS): must be a fleet name like web-prod');
  });

  it('names a bad key of the file, and refuses unknown keys listing the known ones', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ resyncSeconds: -1, tabel: 'x' }));
    const message = await failure({ env: {}, file });
    expect(message).toContain(`resyncSeconds (from ${file}): must be more than 0`);
    expect(message).toMatch(/unknown setting\(s\) tabel \(known: table, region,/);
  });

  it('refuses a renew deadline that is not shorter than the lease', async () => {
    const message = await failure({ env: {}, flags: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 } });
    expect(message).toContain('renewDeadlineSeconds');
    expect(message).toContain('must be shorter than leaseDurationSeconds');
  });

  it('says which file it cannot read or parse', async () => {
    expect(await failure({ env: {}, file: path.join(dir, 'missing.yaml') })).toMatch(/cannot read the config file .*missing\.yaml/);
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{ "httpPort": ');
    expect(await failure({ env: {}, file: broken })).toMatch(/broken\.json is not valid JSON/);
  });

  it('refuses a table name DynamoDB would refuse', async () => {
    expect(await failure({ env: { FLEETSYNC_TABLE: 'my table' } })).toContain('table (from FLEETSYNC_TABLE): must be a DynamoDB table name');
  });

  it('reads FLEETSYNC_LAUNCH_QUEUES as a JSON object of group name to queue URL, and says how to fix a bad one', async () => {
    const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fleetsync-launches-web';
    expect((await loadConfig({ env: {} })).launchQueues).toEqual({});
    expect((await loadConfig({ env: { FLEETSYNC_LAUNCH_QUEUES: JSON.stringify({ 'web-asg': url }) } })).launchQueues).toEqual({ 'web-asg': url });
    expect(await failure({ env: { FLEETSYNC_LAUNCH_QUEUES: `web-asg=${url}` } }))
      .toContain('launchQueues (from FLEETSYNC_LAUNCH_QUEUES): must be a JSON object of Auto Scaling group name to queue URL, like {"web-asg":');
    expect(await failure({ env: { FLEETSYNC_LAUNCH_QUEUES: '{"web-asg":"fleetsync-launches-web"}' } }))
      .toContain('launchQueues.web-asg (from FLEETSYNC_LAUNCH_QUEUES): must be an SQS queue URL like https://sqs.');
  });
});
