import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CancelCommandCommand, type CommandInvocation, GetCommandInvocationCommand, InvocationDoesNotExist,
  ListCommandInvocationsCommand, ListCommandsCommand, SSMClient, SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { SsmCommands, commandComment } from '../../controller/aws/ssmCommands.ts';
import { chunk } from '../../controller/aws/ec2Fleet.ts';
import { CallTally } from '../../controller/aws/callCounter.ts';
import { NotFoundError, ThrottledError } from '../../controller/errors.ts';
import { ssmParameters } from '../../controller/hostProtocol.ts';
import { MAX_TARGETS_PER_SEND, type SendArgs, type SyncParams } from '../../controller/ports/commands.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { ValidationError } from '../../state/validate.ts';
import { TEST_CLIENT_CONFIG, instanceIds, onClock, sdkError } from './awsMocks.ts';

const client = new SSMClient(TEST_CLIENT_CONFIG);
const ssm = mockClient(client);

const START_MS = Date.UTC(2025, 5, 1, 12, 0, 0);
let clock: VirtualClock;
let tally: CallTally;
let commands: SsmCommands;

beforeEach(() => {
  ssm.reset();
  clock = new VirtualClock(START_MS);
  tally = new CallTally();
  commands = new SsmCommands({ client, clock, onCall: tally.onCall });
});

const params: SyncParams = {
  source: 's3://my-codebase/web', revision: '3f9c2ab', destination: '/var/www/app', strategy: 'release',
  excludes: ['media/*', 'var/*'], links: { media: '/mnt/efs/media' }, keepReleases: 5,
};

const sendArgs = (ids: string[], attemptId = 'a-20250601-1'): SendArgs => ({
  fleet: 'web-prod', attemptId, mode: 'sync', instanceIds: ids, params, timeoutSeconds: 900,
});

const RESULT = '{"revision":"3f9c2ab","strategy":"release","status":"synced","files":1200,"bytes":52428800,"seconds":41}';
const LINE = `FLEETSYNC-RESULT ${RESULT}`;

function invocation(instanceId: string, status: string, options: { code?: number; output?: string } = {}): CommandInvocation {
  return {
    CommandId: 'cmd-1', InstanceId: instanceId, Status: status as 'Success', StatusDetails: status,
    CommandPlugins: [{
      Name: 'sync', Status: status as 'Success', StatusDetails: status,
      ...(options.code !== undefined ? { ResponseCode: options.code } : {}),
      ...(options.output !== undefined ? { Output: options.output } : {}),
    }],
  };
}

describe('SsmCommands.send', () => {
  it('sends the fleetsync document with validated parameters, timeouts and the attempt in the comment', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const ids = instanceIds(3);
    expect(await commands.send(sendArgs(ids))).toEqual({ commandId: 'cmd-1' });
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input).toEqual({
      DocumentName: 'fleetsync-sync',
      InstanceIds: ids,
      // fleetsync's document declares no executionTimeout: the controller cancels an attempt that runs too long
      Parameters: ssmParameters({ mode: 'sync', params, attemptId: 'a-20250601-1' }),
      Comment: 'fleetsync web-prod a-20250601-1',
      TimeoutSeconds: 300,
      MaxConcurrency: '100%',
      MaxErrors: '100%',
    });
    expect(input.Parameters?.links).toEqual(['media=/mnt/efs/media']);
    expect(input.Parameters?.checkUser).toEqual(['']);
  });

  it('sends the check command and the user it runs as', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const withCheck = { ...params, checkCommand: '/usr/local/bin/app-healthcheck', checkUser: 'www-data' };
    await commands.send({ ...sendArgs(instanceIds(1)), params: withCheck });
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input.Parameters?.checkCommand).toEqual(['/usr/local/bin/app-healthcheck']);
    expect(input.Parameters?.checkUser).toEqual(['www-data']);
  });

  it('uses the document name it is given, and an execution timeout parameter when that document declares one', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    commands = new SsmCommands({ client, clock, documentName: 'my-sync-doc', executionTimeoutParameter: 'executionTimeout' });
    await commands.send(sendArgs(instanceIds(1)));
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input.DocumentName).toBe('my-sync-doc');
    expect(input.Parameters?.executionTimeout).toEqual(['900']);
  });

  it(`takes ${MAX_TARGETS_PER_SEND} hosts and refuses ${MAX_TARGETS_PER_SEND + 1} without calling SSM`, async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    await commands.send(sendArgs(instanceIds(MAX_TARGETS_PER_SEND)));
    const error = await commands.send(sendArgs(instanceIds(MAX_TARGETS_PER_SEND + 1))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/51 instance ids.*at most 50.*batches/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('refuses bad parameters before they reach SSM', async () => {
    const bad = { ...sendArgs(instanceIds(1)), params: { ...params, destination: '/etc' } };
    await expect(commands.send(bad)).rejects.toThrow(/system folder/);
    expect(ssm.calls()).toHaveLength(0);
  });

  it('120 hosts in batches of 50 make 3 SendCommand calls, and results are read per command', async () => {
    const ids = instanceIds(120);
    let n = 0;
    ssm.on(SendCommandCommand).callsFake(() => ({ Command: { CommandId: `cmd-${++n}` } }));
    const targets = new Map<string, string[]>();
    ssm.on(ListCommandInvocationsCommand).callsFake((input: { CommandId: string }) => ({
      CommandInvocations: targets.get(input.CommandId)!.map((id) => invocation(id, 'Success', { code: 0, output: `${LINE}\n` })),
    }));
    // the batching the reconciler does: at most MAX_TARGETS_PER_SEND per call
    const sent = [];
    for (const batch of chunk(ids, MAX_TARGETS_PER_SEND)) {
      const { commandId } = await commands.send(sendArgs(batch));
      targets.set(commandId, batch);
      sent.push(commandId);
    }
    const results = (await Promise.all(sent.map((id) => commands.results(id)))).flat();

    expect(ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.InstanceIds?.length)).toEqual([50, 50, 20]);
    expect(ssm.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input.CommandId)).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
    expect(results.map((r) => r.instanceId).sort()).toEqual([...ids].sort());
    expect(results.every((r) => r.status === 'success' && r.result?.revision === '3f9c2ab')).toBe(true);
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });

  it('keeps the comment within 100 characters and the attempt id whole for a long fleet name', () => {
    const fleet = `web-${'x'.repeat(57)}-eu`;
    const attemptId = 'a'.repeat(64);
    const comment = commandComment(fleet, attemptId);
    expect(comment.length).toBeLessThanOrEqual(100);
    expect(comment.startsWith('fleetsync web-x')).toBe(true);
    expect(comment.endsWith(` ${attemptId}`)).toBe(true);
  });
});

describe('SsmCommands.results', () => {
  it('reads every page of ListCommandInvocations, with details', async () => {
    const ids = instanceIds(75);
    ssm.on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: ids.slice(0, 50).map((id) => invocation(id, 'InProgress')), NextToken: 'p2' })
      .resolvesOnce({ CommandInvocations: ids.slice(50).map((id) => invocation(id, 'Success', { code: 0, output: LINE })) });
    const results = await commands.results('cmd-1');
    expect(ssm.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: 'cmd-1', Details: true, MaxResults: 50 },
      { CommandId: 'cmd-1', Details: true, MaxResults: 50, NextToken: 'p2' },
    ]);
    expect(results).toHaveLength(75);
    expect(results.filter((r) => r.status === 'pending')).toHaveLength(50);
    expect(results.filter((r) => r.status === 'success')).toHaveLength(25);
    expect(tally.get('ListCommandInvocations')).toEqual({ ok: 2, throttled: 0, error: 0 });
  });

  it('maps SSM statuses onto the port\'s', async () => {
    const ids = instanceIds(7);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [
      invocation(ids[0]!, 'Pending'), invocation(ids[1]!, 'InProgress'), invocation(ids[2]!, 'Delayed'),
      invocation(ids[3]!, 'TimedOut'), invocation(ids[4]!, 'Cancelled'),
      invocation(ids[5]!, 'Failed', { code: 75, output: '' }),
      invocation(ids[6]!, 'Failed', { code: -1 }),
    ] });
    const results = await commands.results('cmd-1');
    expect(results.map((r) => r.status)).toEqual(['pending', 'pending', 'pending', 'timedOut', 'cancelled', 'busy', 'failed']);
    expect(results[5]).toMatchObject({ exitCode: 75 });
    expect(results[6]!.error).toMatch(/before the host script ran/);
    // a busy host or an undelivered command has no output worth fetching
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });

  it('parses a normal result line (stderr after it ignored)', async () => {
    const [id] = instanceIds(1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [
      invocation(id!, 'Success', { code: 0, output: `${LINE}\n\n----------ERROR-------\nsyncing 1200 files\n` }),
    ] });
    expect(await commands.results('cmd-1')).toEqual([{
      instanceId: id, status: 'success', exitCode: 0, result: JSON.parse(RESULT),
    }]);
  });

  it('fetches the full output with GetCommandInvocation when the short output cuts the line', async () => {
    const [id] = instanceIds(1);
    const noise = 'x'.repeat(2480);
    // SSM keeps the first 2,500 characters: the line is cut in the middle of its JSON
    const cut = `${noise}\n${LINE}`.slice(0, 2500);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Success', { code: 0, output: cut })] });
    ssm.on(GetCommandInvocationCommand).resolves({
      CommandId: 'cmd-1', InstanceId: id, Status: 'Success', ResponseCode: 0,
      StandardOutputContent: `${noise}\n${LINE}\n`,
    });
    const [result] = await commands.results('cmd-1');
    expect(result).toEqual({ instanceId: id, status: 'success', exitCode: 0, result: JSON.parse(RESULT) });
    expect(ssm.commandCalls(GetCommandInvocationCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: 'cmd-1', InstanceId: id, PluginName: 'sync' },
    ]);
  });

  it('fails the attempt, saying why, when the line is missing from the full output too', async () => {
    const [id] = instanceIds(1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Success', { code: 0, output: 'done\n' })] });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'done\n' });
    const [result] = await commands.results('cmd-1');
    expect(result).toMatchObject({ instanceId: id, status: 'failed', exitCode: 0 });
    expect(result!.error).toMatch(/succeeded but no FLEETSYNC-RESULT line/);
  });

  it('fails the attempt when the line is still cut in the full output', async () => {
    const [id] = instanceIds(1);
    const cut = LINE.slice(0, 40);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Success', { code: 0, output: cut })] });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: cut });
    const [result] = await commands.results('cmd-1');
    expect(result).toMatchObject({ status: 'failed' });
    expect(result!.error).toMatch(/not complete JSON/);
  });

  it('fails a non-zero exit with the error its result line gives', async () => {
    const [id] = instanceIds(1);
    const line = 'FLEETSYNC-RESULT {"revision":"2b1d0c9","status":"failed","error":"aws s3 sync exited 1: AccessDenied"}';
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Failed', { code: 3, output: line })] });
    const [result] = await commands.results('cmd-1');
    expect(result).toEqual({
      instanceId: id, status: 'failed', exitCode: 3, error: 'aws s3 sync exited 1: AccessDenied',
      result: { revision: '2b1d0c9', status: 'failed', error: 'aws s3 sync exited 1: AccessDenied' },
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(0);
  });

  it('fails a non-zero exit without a result line with the exit code and the reason', async () => {
    const [id] = instanceIds(1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Failed', { code: 127, output: '' })] });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', ResponseCode: 127, StandardOutputContent: '' });
    const [result] = await commands.results('cmd-1');
    expect(result).toMatchObject({ status: 'failed', exitCode: 127 });
    expect(result!.error).toMatch(/^exit 127; no FLEETSYNC-RESULT line/);
  });

  it('retries InvocationDoesNotExist right after SendCommand on the clock, then reads the result', async () => {
    const [id] = instanceIds(1);
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .resolves({ CommandInvocations: [invocation(id!, 'Success', { code: 0, output: LINE })] });
    const { commandId } = await commands.send(sendArgs([id!]));
    const results = await onClock(clock, commands.results(commandId));
    expect(results).toMatchObject([{ instanceId: id, status: 'success' }]);
    expect(clock.nowMs() - START_MS).toBe(2000);
    expect(tally.get('ListCommandInvocations')).toEqual({ ok: 1, throttled: 0, error: 2 });
  });

  it('reports the hosts of a command SSM does not show yet as pending, not failed', async () => {
    const ids = instanceIds(3);
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      // visible now, but one host not listed yet
      .resolves({ CommandInvocations: [invocation(ids[0]!, 'InProgress'), invocation(ids[1]!, 'InProgress')] });
    const { commandId } = await commands.send(sendArgs(ids));
    const first = await onClock(clock, commands.results(commandId));
    expect(first.map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);
    const second = await commands.results(commandId);
    expect(second.map((r) => [r.instanceId, r.status])).toEqual(ids.map((id) => [id, 'pending']));
  });

  it('says NotFound for a command it never sent that SSM does not know', async () => {
    ssm.on(ListCommandInvocationsCommand).rejects(new InvocationDoesNotExist({ message: '', $metadata: {} }));
    const error = await onClock(clock, commands.results('cmd-gone')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/cmd-gone/);
  });

  it('retries a not-yet-visible GetCommandInvocation too', async () => {
    const [id] = instanceIds(1);
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(id!, 'Success', { code: 0, output: '' })] });
    ssm.on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: '', $metadata: {} }))
      .resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: LINE });
    const [result] = await onClock(clock, commands.results('cmd-1'));
    expect(result).toMatchObject({ status: 'success', result: { revision: '3f9c2ab' } });
  });

  it('turns a throttle that outlasted the SDK retries into ThrottledError, counted apart', async () => {
    ssm.on(ListCommandInvocationsCommand).rejects(sdkError('ThrottlingException', 'Rate exceeded'));
    await expect(commands.results('cmd-1')).rejects.toBeInstanceOf(ThrottledError);
    expect(tally.get('ListCommandInvocations')).toEqual({ ok: 0, throttled: 1, error: 0 });
  });
});

describe('SsmCommands.cancel and findByAttempt', () => {
  it('cancels a command, for some hosts or all', async () => {
    ssm.on(CancelCommandCommand).resolves({});
    const ids = instanceIds(2);
    await commands.cancel({ commandId: 'cmd-1', instanceIds: ids });
    await commands.cancel({ commandId: 'cmd-2' });
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: 'cmd-1', InstanceIds: ids }, { CommandId: 'cmd-2' },
    ]);
  });

  it('finds the command of an attempt over pages of ListCommands, matching the whole comment', async () => {
    ssm.on(ListCommandsCommand)
      .resolvesOnce({ Commands: [
        { CommandId: 'cmd-other-fleet', Comment: 'fleetsync web-stage a-7' },
        { CommandId: 'cmd-longer-attempt', Comment: 'fleetsync web-prod a-70' },
      ], NextToken: 'p2' })
      .resolvesOnce({ Commands: [{ CommandId: 'cmd-9', Comment: 'fleetsync web-prod a-7' }] });
    expect(await commands.findByAttempt({ fleet: 'web-prod', attemptId: 'a-7' })).toBe('cmd-9');
    const inputs = ssm.commandCalls(ListCommandsCommand).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      { Filters: [{ key: 'DocumentName', value: 'fleetsync-sync' }, { key: 'InvokedAfter', value: '2025-05-31T12:00:00.000Z' }], MaxResults: 50 },
      { Filters: [{ key: 'DocumentName', value: 'fleetsync-sync' }, { key: 'InvokedAfter', value: '2025-05-31T12:00:00.000Z' }], MaxResults: 50, NextToken: 'p2' },
    ]);
  });

  it('finds nothing when no command carries the attempt', async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Comment: 'deploy by hand' }] });
    expect(await commands.findByAttempt({ fleet: 'web-prod', attemptId: 'a-7' })).toBeNull();
  });

  it('finds a command sent with a shortened comment (long fleet name)', async () => {
    const fleet = `web-${'y'.repeat(55)}-prod`;
    const attemptId = `att-${'z'.repeat(60)}`;
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-long' } });
    await commands.send({ ...sendArgs(instanceIds(1), attemptId), fleet });
    const comment = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.Comment;
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-long', Comment: comment }] });
    expect(await new SsmCommands({ client, clock }).findByAttempt({ fleet, attemptId })).toBe('cmd-long');
  });

  it('looks only from a minute before the attempt was recorded when that is known', async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-3', Comment: 'fleetsync web-prod a-7' }] });
    expect(await commands.findByAttempt({ fleet: 'web-prod', attemptId: 'a-7', sentAfterMs: START_MS - 600_000 })).toBe('cmd-3');
    expect(ssm.commandCalls(ListCommandsCommand)[0]!.args[0].input.Filters).toContainEqual({ key: 'InvokedAfter', value: '2025-06-01T11:49:00.000Z' });
  });
});

describe('SsmCommands.cancelOrphans', () => {
  it("cancels this fleet's commands still running on the host, and no one else's", async () => {
    const id = instanceIds(1)[0]!;
    ssm.on(ListCommandsCommand)
      .resolvesOnce({ Commands: [
        { CommandId: 'cmd-orphan', Comment: 'fleetsync web-prod a-3-9' },
        { CommandId: 'cmd-other-fleet', Comment: 'fleetsync web-stage a-3-9' },
      ], NextToken: 'p2' })
      .resolvesOnce({ Commands: [{ CommandId: 'cmd-by-hand', Comment: 'patching' }] });
    ssm.on(CancelCommandCommand).resolves({});
    expect(await commands.cancelOrphans({ fleet: 'web-prod', instanceId: id })).toBe(1);
    expect(ssm.commandCalls(ListCommandsCommand)[0]!.args[0].input).toEqual({
      InstanceId: id, MaxResults: 50,
      Filters: [{ key: 'DocumentName', value: 'fleetsync-sync' }, { key: 'ExecutionStage', value: 'Executing' }],
    });
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([{ CommandId: 'cmd-orphan', InstanceIds: [id] }]);
  });
});
