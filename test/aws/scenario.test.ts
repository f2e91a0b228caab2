/**
 * The whole controller (Manager, leader election, reconciler, host machines) against the AWS adapters, over
 * SDK clients mocked with aws-sdk-client-mock that model one Auto Scaling group: 120 in-service instances,
 * 10 more launched into Pending:Wait in the middle of a rollout, SSM commands whose invocations finish after
 * a few polls with the host script's result line, and lifecycle actions. Runs on a virtual clock: the mocks
 * answer without I/O, so a rollout of minutes takes no real time.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingGroupsCommand,
  RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CancelCommandCommand, type CommandInvocation, DescribeInstanceInformationCommand, GetCommandInvocationCommand,
  ListCommandInvocationsCommand, ListCommandsCommand, SSMClient, SendCommandCommand,
} from '@aws-sdk/client-ssm';
import {
  DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { Ec2Fleet } from '../../controller/aws/ec2Fleet.ts';
import { SsmCommands } from '../../controller/aws/ssmCommands.ts';
import { ElbTraffic } from '../../controller/aws/elbTraffic.ts';
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS, type ReconcilerSettings } from '../../controller/reconciler/settings.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { DEFAULT_DOCUMENT_NAME, EXIT, RESULT_PREFIX } from '../../controller/hostProtocol.ts';
import { loadConfig } from '../../controller/config.ts';
import { openRuntime } from '../../controller/runtime.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { TEST_CLIENT_CONFIG, sdkError } from './awsMocks.ts';

const GROUP = 'web-prod-asg';
const HOOK = 'fleetsync-launch';
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-prod/0123456789abcdef';
const START_MS = Date.UTC(2025, 5, 1, 12, 0, 0);
const DESTINATION = '/var/www/app';

/** polls of ListCommandInvocations an invocation stays InProgress: a sync is ~30 s at the 5 s poll */
const SYNC_POLLS = 6;
const PROBE_POLLS = 1;
/** how long a launched instance's SSM agent takes to register */
const AGENT_DELAY_MS = 20_000;

interface ModelInstance {
  id: string;
  n: number;
  lifecycleState: string;
  revision: string | null;
  launchTimeMs: number;
  agentOnlineAtMs: number;
  /** syncs started on the host and not finished (the host script's flock lets one run; probes take no lock) */
  running: number;
  /** the revisions this host has reported in a sync result line the controller read */
  reported: Set<string>;
}

interface ModelInvocation {
  instanceId: string;
  polls: number;
  outcome: 'pending' | 'done';
  busy: boolean;
  cancelled: boolean;
  responseCode?: number;
  output?: string;
}

interface ModelCommand {
  id: string;
  comment: string;
  documentName: string;
  mode: string;
  revision: string;
  attemptId: string;
  requestedAtMs: number;
  /** SSM lists no invocations in the first call after SendCommand (it has not fanned out yet) */
  listed: boolean;
  invocations: ModelInvocation[];
}

/** The command document the controller's commands must fit, as SSM checks them on SendCommand. */
const DOCUMENT = JSON.parse(readFileSync(new URL('../../deploy/ssm/fleetsync-sync.json', import.meta.url), 'utf8')) as {
  parameters: Record<string, { default?: string; allowedPattern?: string }>;
};

/** What SSM refuses in a SendCommand for the fleetsync document (InvalidDocument, InvalidParameters). */
function documentProblems(input: { DocumentName?: string; Parameters?: Record<string, string[]> }): Error | null {
  if (input.DocumentName !== DEFAULT_DOCUMENT_NAME) return sdkError('InvalidDocument', `no document ${input.DocumentName}`);
  const given = input.Parameters ?? {};
  for (const [name, values] of Object.entries(given)) {
    const declared = DOCUMENT.parameters[name];
    if (!declared) return sdkError('InvalidParameters', `parameter ${name} is not defined in the document`);
    for (const value of values) {
      if (declared.allowedPattern !== undefined && !new RegExp(declared.allowedPattern).test(value)) {
        return sdkError('InvalidParameters', `${name} value ${JSON.stringify(value)} does not match its allowedPattern`);
      }
    }
  }
  for (const [name, declared] of Object.entries(DOCUMENT.parameters)) {
    if (declared.default === undefined && given[name] === undefined) return sdkError('InvalidParameters', `${name} is required`);
  }
  return null;
}

/** Builds the line deploy/host/fleetsync-sync.sh prints (see its finish()). */
function resultLine(fields: {
  revision: string | null; target?: string; status: string; files?: number; bytes?: number; seconds: number; attempt: string;
  error?: string;
}): string {
  const json: Record<string, unknown> = { revision: fields.revision };
  if (fields.target !== undefined) json.target = fields.target;
  json.strategy = 'release';
  json.status = fields.status;
  if (fields.files !== undefined) json.files = fields.files;
  if (fields.bytes !== undefined) json.bytes = fields.bytes;
  json.seconds = fields.seconds;
  json.attempt = fields.attempt;
  json.log = `${DESTINATION}/.fleetsync/sync.log`;
  if (fields.error !== undefined) json.error = fields.error;
  return `${RESULT_PREFIX}${JSON.stringify(json)}`;
}

/** The AWS side: one Auto Scaling group, its instances' disks and agents, and SSM's commands. */
class AwsModel {
  readonly instances = new Map<string, ModelInstance>();
  readonly commands = new Map<string, ModelCommand>();
  readonly completions: Array<{ instanceId: string; result: string; revision: string | null; reportedTarget: boolean; atMs: number }> = [];
  /** a host ran two commands at once (the flock would have refused the second: exit 75) */
  maxRunningPerHost = 0;
  desired = 'rev-0';
  private nextInstance = 0;
  private nextCommand = 0;

  constructor(private readonly clock: VirtualClock) {}

  launch(count: number, options: { inService: boolean; revision: string }): string[] {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.nextInstance++;
      const id = `i-${(0xa000 + n).toString(16).padStart(17, '0')}`;
      const now = this.clock.nowMs();
      this.instances.set(id, {
        id, n, lifecycleState: options.inService ? 'InService' : 'Pending:Wait', revision: options.revision,
        launchTimeMs: now, agentOnlineAtMs: options.inService ? now : now + AGENT_DELAY_MS, running: 0, reported: new Set(),
      });
      ids.push(id);
    }
    return ids;
  }

  agentOnline(inst: ModelInstance): boolean {
    return this.clock.nowMs() >= inst.agentOnlineAtMs;
  }

  sendCommand(input: {
    DocumentName?: string; InstanceIds?: string[]; Parameters?: Record<string, string[]>; Comment?: string;
  }): string {
    const id = `${(++this.nextCommand).toString(16).padStart(8, '0')}-1111-2222-3333-444455556666`;
    const param = (name: string): string => input.Parameters?.[name]?.[0] ?? '';
    const command: ModelCommand = {
      id, comment: input.Comment ?? '', documentName: input.DocumentName ?? '', mode: param('mode'),
      revision: param('revision'), attemptId: param('attemptId'), requestedAtMs: this.clock.nowMs(), listed: false,
      invocations: [],
    };
    for (const instanceId of input.InstanceIds ?? []) {
      const inst = this.instances.get(instanceId);
      // the host script takes its lock for a sync only; a probe just reads
      const busy = inst !== undefined && command.mode === 'sync' && inst.running > 0;
      if (inst && !busy && command.mode === 'sync') {
        inst.running += 1;
        this.maxRunningPerHost = Math.max(this.maxRunningPerHost, inst.running);
      }
      command.invocations.push({ instanceId, polls: 0, outcome: 'pending', busy, cancelled: false });
    }
    this.commands.set(id, command);
    return id;
  }

  /** One page of ListCommandInvocations (Details): each listed invocation counts one poll. */
  listInvocations(commandId: string, nextToken: string | undefined, maxResults: number): { CommandInvocations: CommandInvocation[]; NextToken?: string } {
    const command = this.commands.get(commandId);
    if (!command) throw sdkError('InvalidCommandId', `command ${commandId} not found`);
    if (!command.listed) {
      command.listed = true;
      return { CommandInvocations: [] };
    }
    const start = nextToken === undefined ? 0 : Number(nextToken);
    const page = command.invocations.slice(start, start + maxResults);
    const next = start + maxResults < command.invocations.length ? String(start + maxResults) : undefined;
    return {
      CommandInvocations: page.map((inv) => this.poll(command, inv)),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  private poll(command: ModelCommand, inv: ModelInvocation): CommandInvocation {
    inv.polls += 1;
    const inst = this.instances.get(inv.instanceId);
    if (inv.outcome === 'pending' && !inv.cancelled) {
      if (inv.busy) {
        this.finish(inv, EXIT.busy, resultLine({
          revision: inst?.revision ?? null, status: 'busy', seconds: 0, attempt: command.attemptId,
          error: 'another fleetsync sync is running on this host; retry when it has finished',
        }));
      } else if (inv.polls >= (command.mode === 'sync' ? SYNC_POLLS : PROBE_POLLS) && inst) {
        if (command.mode === 'sync') {
          inst.running -= 1;
          inst.revision = command.revision;
          this.finish(inv, EXIT.synced, resultLine({
            revision: command.revision, target: command.revision, status: 'synced', files: 1200 + inst.n, bytes: 52_428_800,
            seconds: 30, attempt: command.attemptId,
          }));
        } else {
          this.finish(inv, EXIT.synced, resultLine({ revision: inst.revision, status: 'probed', seconds: 0, attempt: command.attemptId }));
        }
      }
    }
    const status = inv.cancelled ? 'Cancelled' : inv.outcome === 'pending' ? 'InProgress'
      : inv.responseCode === 0 ? 'Success' : 'Failed';
    // What the controller reads now is what it will act on: note a sync result that reports a revision.
    if (status === 'Success' && command.mode === 'sync' && inst) inst.reported.add(command.revision);
    return {
      CommandId: command.id, InstanceId: inv.instanceId, DocumentName: command.documentName, Comment: command.comment,
      Status: status, StatusDetails: status,
      CommandPlugins: [{
        Name: 'sync', Status: status, StatusDetails: status,
        ...(inv.responseCode !== undefined ? { ResponseCode: inv.responseCode } : { ResponseCode: -1 }),
        ...(inv.output !== undefined ? { Output: inv.output } : {}),
      }],
    };
  }

  private finish(inv: ModelInvocation, code: number, line: string): void {
    inv.outcome = 'done';
    inv.responseCode = code;
    // stdout is the one line; progress goes to stderr, which SSM appends after its marker
    inv.output = `${line}\n\n----------ERROR-------\nsyncing s3://my-codebase/web into ${DESTINATION}\n`;
  }

  completeLifecycle(input: { AutoScalingGroupName?: string; LifecycleHookName?: string; InstanceId?: string; LifecycleActionResult?: string }): void {
    const inst = this.instances.get(input.InstanceId ?? '');
    if (input.AutoScalingGroupName !== GROUP || input.LifecycleHookName !== HOOK) {
      throw sdkError('ValidationError', `No Lifecycle Hook found for group ${input.AutoScalingGroupName} and hook ${input.LifecycleHookName}`);
    }
    if (!inst || inst.lifecycleState !== 'Pending:Wait') {
      throw sdkError('ValidationError', `No active Lifecycle Action found with instance ID ${input.InstanceId}`);
    }
    this.completions.push({
      instanceId: inst.id, result: input.LifecycleActionResult ?? '', revision: inst.revision,
      reportedTarget: inst.reported.has(this.desired), atMs: this.clock.nowMs(),
    });
    if (input.LifecycleActionResult === 'CONTINUE') inst.lifecycleState = 'InService';
    else this.instances.delete(inst.id);
  }
}

const autoScaling = new AutoScalingClient(TEST_CLIENT_CONFIG);
const ssm = new SSMClient(TEST_CLIENT_CONFIG);
const elb = new ElasticLoadBalancingV2Client(TEST_CLIENT_CONFIG);
const mocks = [mockClient(autoScaling), mockClient(ssm), mockClient(elb)] as const;
const [asgMock, ssmMock, elbMock] = mocks;

afterEach(() => {
  for (const m of mocks) m.reset();
});

function wire(model: AwsModel): void {
  asgMock.on(DescribeAutoScalingGroupsCommand).callsFake(async (input: { AutoScalingGroupNames?: string[] }) => ({
    AutoScalingGroups: input.AutoScalingGroupNames?.includes(GROUP) ? [{
      AutoScalingGroupName: GROUP,
      Instances: [...model.instances.values()].map((i) => ({
        InstanceId: i.id, LifecycleState: i.lifecycleState, AvailabilityZone: i.n % 2 === 0 ? 'us-east-1a' : 'us-east-1b',
        HealthStatus: 'Healthy', ProtectedFromScaleIn: false,
      })),
    }] : [],
  }));
  asgMock.on(CompleteLifecycleActionCommand).callsFake(async (input: Parameters<AwsModel['completeLifecycle']>[0]) => {
    model.completeLifecycle(input);
    return {};
  });
  asgMock.on(RecordLifecycleActionHeartbeatCommand).resolves({});
  asgMock.on(SetInstanceHealthCommand).resolves({});

  ssmMock.on(DescribeInstanceInformationCommand).callsFake(async (input: { Filters?: Array<{ Key?: string; Values?: string[] }> }) => {
    const ids = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
    if (ids.length > 50) throw sdkError('InvalidFilterValue', 'at most 50 instance ids');
    return {
      InstanceInformationList: ids.map((id) => model.instances.get(id))
        .filter((i): i is ModelInstance => i !== undefined && model.agentOnline(i))
        .map((i) => ({ InstanceId: i.id, PingStatus: 'Online' as const })),
    };
  });
  ssmMock.on(SendCommandCommand).callsFake(async (input: Parameters<AwsModel['sendCommand']>[0]) => {
    if ((input.InstanceIds?.length ?? 0) > 50) throw sdkError('ValidationException', 'at most 50 instance ids');
    const problem = documentProblems(input);
    if (problem !== null) throw problem;
    return { Command: { CommandId: model.sendCommand(input) } };
  });
  ssmMock.on(ListCommandInvocationsCommand).callsFake(async (input: { CommandId?: string; NextToken?: string; MaxResults?: number }) =>
    model.listInvocations(input.CommandId ?? '', input.NextToken, input.MaxResults ?? 50));
  ssmMock.on(GetCommandInvocationCommand).callsFake(async (input: { CommandId?: string; InstanceId?: string }) => {
    const inv = model.commands.get(input.CommandId ?? '')?.invocations.find((i) => i.instanceId === input.InstanceId);
    if (!inv) throw sdkError('InvocationDoesNotExist', 'no such invocation');
    return {
      CommandId: input.CommandId, InstanceId: input.InstanceId, Status: inv.outcome === 'done' ? 'Success' : 'InProgress',
      ResponseCode: inv.responseCode ?? -1, StandardOutputContent: inv.output?.split('\n')[0] ?? '',
    };
  });
  ssmMock.on(ListCommandsCommand).callsFake(async () => ({
    Commands: [...model.commands.values()].map((c) => ({
      CommandId: c.id, Comment: c.comment, DocumentName: c.documentName, RequestedDateTime: new Date(c.requestedAtMs),
    })),
  }));
  ssmMock.on(CancelCommandCommand).callsFake(async (input: { CommandId?: string; InstanceIds?: string[] }) => {
    for (const inv of model.commands.get(input.CommandId ?? '')?.invocations ?? []) {
      if (input.InstanceIds && !input.InstanceIds.includes(inv.instanceId)) continue;
      if (inv.outcome !== 'pending' || inv.cancelled) continue;
      inv.cancelled = true;
      const inst = model.instances.get(inv.instanceId);
      if (inst && !inv.busy && model.commands.get(input.CommandId ?? '')?.mode === 'sync') inst.running -= 1;
    }
    return {};
  });

  elbMock.on(DescribeTargetHealthCommand).callsFake(async () => ({
    TargetHealthDescriptions: [...model.instances.values()].filter((i) => i.lifecycleState === 'InService')
      .map((i) => ({ Target: { Id: i.id, Port: 80 }, TargetHealth: { State: 'healthy' as const } })),
  }));
  elbMock.on(DeregisterTargetsCommand).resolves({});
  elbMock.on(RegisterTargetsCommand).resolves({});
}

/** Every call each mocked client received since the last reset of its history, by operation. */
function callCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of mocks) {
    for (const call of m.calls()) {
      const name = (call.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return counts;
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

const FLEET = 'web-prod';

function fleetSpec(revision: string) {
  return parseFleetSpec({
    autoScalingGroupName: GROUP, lifecycleHookName: HOOK, targetGroupArns: [TARGET_GROUP], source: 's3://my-codebase/web',
    destination: DESTINATION, revision, rollout: { maxUnavailable: '25%', syncTimeoutSeconds: 900 },
  });
}

/** The group, the store and one controller on the virtual clock, with the simulator's timings. */
async function startScenario(inService: number) {
  const clock = new VirtualClock(START_MS);
  const model = new AwsModel(clock);
  wire(model);
  model.launch(inService, { inService: true, revision: 'rev-0' });
  const store = new MemoryStore();
  let generation = 0;
  /** as the CLI's deploy does: the spec, then its history event */
  const deploy = async (revision: string): Promise<void> => {
    const record = await store.putFleetSpec({ name: FLEET, spec: fleetSpec(revision), expectedGeneration: generation, nowMs: clock.nowMs() });
    generation = record.generation;
    await store.appendHistory(FLEET, {
      type: 'deploy', atMs: clock.nowMs(), actor: 'ops@bastion', revision, generation, message: `deploy ${revision}`,
    });
    model.desired = revision;
  };
  await deploy('rev-0');

  const state = { latest: null as FleetStatus | null, onStatus: (_status: FleetStatus): void => undefined };
  const isConverged = (status: FleetStatus | null): boolean => {
    const live = [...model.instances.values()];
    return status !== null && status.revision === model.desired && status.hostCounts.total === live.length
      && status.hostCounts.inSync === live.length
      && live.every((i) => i.lifecycleState === 'InService' && i.revision === model.desired);
  };
  const settings: ReconcilerSettings = { ...DEFAULT_SETTINGS, resyncMs: 30_000, pollMs: 5_000 };
  const abort = new AbortController();
  const manager = new Manager({
    store, clock, random: seededRandom(7), holder: 'controller-1', settings, leader: DEFAULT_LEADER_SETTINGS,
    fleetScanMs: 10_000, log: silentLogger,
    fleetPort: new Ec2Fleet({ autoScaling, ssm }),
    commands: new SsmCommands({ client: ssm, clock, documentName: DEFAULT_DOCUMENT_NAME }),
    traffic: new ElbTraffic({ client: elb }),
    observer: {
      statusWritten: (_fleet, status) => {
        state.latest = status;
        state.onStatus(status);
      },
    },
  });
  const done = manager.run(abort.signal);
  const stop = async (): Promise<void> => {
    abort.abort();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await done;
  };
  return { clock, model, store, state, deploy, isConverged, stop };
}

describe('the controller against the AWS adapters (mocked clients)', () => {
  it('rolls 120 instances to a new revision, with 10 launched mid-rollout, within the simulator\'s call targets', async () => {
    const { clock, model, state, deploy, isConverged, stop } = await startScenario(120);
    // the controller discovers the group and probes every host: all at rev-0
    expect(await clock.run({ untilMs: START_MS + 3_600_000, done: () => isConverged(state.latest) })).toBe(true);

    // t0: the deploy; counting starts here, as the simulator's does, and stops at convergence
    for (const m of mocks) m.resetHistory();
    const t0 = clock.nowMs();
    let countsAtConvergence: Record<string, number> | null = null;
    let convergedAtMs: number | null = null;
    let launchedAtMs: number | null = null;
    state.onStatus = (status) => {
      if (countsAtConvergence !== null || launchedAtMs === null || !isConverged(status)) return;
      countsAtConvergence = callCounts();
      convergedAtMs = clock.nowMs();
    };
    await deploy('rev-1');
    // ten instances launch once the rollout is well under way (a third of the group at rev-1)
    const launched: string[] = [];
    const watchForLaunch = (): void => {
      const atRev1 = [...model.instances.values()].filter((i) => i.revision === 'rev-1').length;
      if (atRev1 >= 40) {
        launched.push(...model.launch(10, { inService: false, revision: 'rev-0' }));
        launchedAtMs = clock.nowMs();
      } else clock.setTimer(1_000, watchForLaunch);
    };
    clock.setTimer(1_000, watchForLaunch);

    expect(await clock.run({ untilMs: t0 + 3_600_000, done: () => convergedAtMs !== null })).toBe(true);
    await stop();

    // converged: every instance, the launched ones included, runs rev-1 and is in service
    const hosts = model.instances.size;
    expect(hosts).toBe(130);
    expect([...model.instances.values()].every((i) => i.revision === 'rev-1' && i.lifecycleState === 'InService')).toBe(true);
    expect(state.latest!.hostCounts).toMatchObject({ total: 130, inSync: 130, failed: 0 });
    expect(launched).toHaveLength(10);
    // launched mid-rollout: before convergence, with hosts still waiting for rev-1
    expect(launchedAtMs!).toBeLessThan(convergedAtMs!);

    // each launched instance was let into service once, by CONTINUE, after it reported rev-1
    expect(model.completions.map((c) => c.instanceId).sort()).toEqual([...launched].sort());
    expect(model.completions.every((c) => c.result === 'CONTINUE' && c.revision === 'rev-1' && c.reportedTarget)).toBe(true);
    expect(model.maxRunningPerHost).toBe(1);

    // the calls it made, from the deploy to convergence, within the simulator's targets
    const counts = countsAtConvergence!;
    const sendCommands = counts.SendCommand ?? 0;
    expect(total(counts) / hosts, JSON.stringify(counts)).toBeLessThanOrEqual(3);
    expect(sendCommands).toBeGreaterThanOrEqual(Math.ceil(hosts / 50));
    expect(sendCommands, JSON.stringify(counts)).toBeLessThanOrEqual(hosts / 10);
    // results are read per command (ListCommandInvocations), never host by host
    expect(counts.GetCommandInvocation ?? 0).toBe(0);
    expect(counts.ListCommandInvocations ?? 0).toBeGreaterThan(0);
    // every sync command went to at most 50 hosts, and every host got exactly one sync
    const syncs = [...model.commands.values()].filter((c) => c.mode === 'sync');
    expect(syncs.every((c) => c.invocations.length <= 50 && c.revision === 'rev-1')).toBe(true);
    const perHost = new Map<string, number>();
    for (const c of syncs) for (const inv of c.invocations) perHost.set(inv.instanceId, (perHost.get(inv.instanceId) ?? 0) + 1);
    expect(perHost.size).toBe(130);
    expect([...perHost.values()].every((n) => n === 1)).toBe(true);
  });

  // RESUME goes only to hosts restored from the store: a host the first pass discovers is probed once.
  it('a first start probes each host once', async () => {
    const { clock, model, state, isConverged, stop } = await startScenario(120);
    expect(await clock.run({ untilMs: START_MS + 3_600_000, done: () => isConverged(state.latest) })).toBe(true);
    await stop();
    const probes = [...model.commands.values()].filter((c) => c.mode === 'probe');
    const perHost = new Map<string, number>();
    for (const c of probes) for (const inv of c.invocations) perHost.set(inv.instanceId, (perHost.get(inv.instanceId) ?? 0) + 1);
    expect(perHost.size).toBe(120);
    expect([...perHost.values()].filter((n) => n > 1)).toEqual([]);
    expect(probes.length).toBe(Math.ceil(120 / 50));
  });

  // SSM refuses a parameter the document does not declare (InvalidParameters): what runtime.ts wires must
  // send only what deploy/ssm/fleetsync-sync.json declares.
  it('the controller as runtime.ts wires it sends commands the SSM document accepts', async () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    // every SSM client, the one runtime.ts builds included
    const anySsm = mockClient(SSMClient);
    anySsm.on(SendCommandCommand).callsFake(async (input: Parameters<typeof documentProblems>[0]) => {
      const problem = documentProblems(input);
      if (problem !== null) throw problem;
      return { Command: { CommandId: 'cmd-1' } };
    });
    const config = await loadConfig({ env: { FLEETSYNC_TABLE: 'fleetsync', AWS_REGION: 'us-east-1' } });
    const runtime = await openRuntime({ config, clock: new VirtualClock(START_MS), log: silentLogger, cwd: process.cwd() });
    try {
      expect(runtime.mode).toBe('aws');
      const out = await runtime.commands.send({
        fleet: FLEET, attemptId: 'a-1-1', mode: 'sync', instanceIds: ['i-0000000000000a000'], timeoutSeconds: 900,
        params: {
          source: 's3://my-codebase/web', revision: 'rev-1', destination: DESTINATION, strategy: 'release',
          excludes: ['media/*', 'var/*'], links: {}, keepReleases: 5,
        },
      });
      expect(out.commandId).toBe('cmd-1');
    } finally {
      await runtime.close();
      anySsm.restore();
      vi.unstubAllEnvs();
    }
  });
});
