/**
 * A warm pool, end to end through the AWS adapters (Ec2Fleet, SsmCommands) over SDK clients mocked with
 * aws-sdk-client-mock: a model of one Auto Scaling group with a warm pool, where the launch hook holds an
 * instance twice (Warmed:Pending:Wait into the pool, Pending:Wait out of it), and SSM refuses commands to a
 * stopped instance as it does (InvalidInstanceId). The whole controller runs on a virtual clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingGroupsCommand, DescribeLifecycleHooksCommand,
  DescribeWarmPoolCommand, RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstanceInformationCommand, ListCommandInvocationsCommand, ListCommandsCommand, SSMClient, SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Ec2Fleet } from '../../controller/aws/ec2Fleet.ts';
import { SsmCommands } from '../../controller/aws/ssmCommands.ts';
import { ElbTraffic } from '../../controller/aws/elbTraffic.ts';
import { Manager } from '../../controller/manager.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { DEFAULT_DOCUMENT_NAME, EXIT, RESULT_PREFIX } from '../../controller/hostProtocol.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { parseFleetSpec } from '../../state/validate.ts';
import { TEST_CLIENT_CONFIG, sdkError } from './awsMocks.ts';

const GROUP = 'web-prod-asg';
const HOOK = 'fleetsync-launch';
const FLEET = 'web-prod';
const START_MS = Date.UTC(2025, 5, 1, 12, 0, 0);
const AGENT_DELAY_MS = 20_000;
/** polls of ListCommandInvocations a sync stays InProgress */
const SYNC_POLLS = 4;

interface Host {
  id: string;
  lifecycleState: string;
  revision: string | null;
  agentOnlineAtMs: number;
}

/** One group and its warm pool; `trace` tells one instance's story as a user would read it in the console. */
class Model {
  readonly hosts = new Map<string, Host>();
  readonly trace = new Map<string, string[]>();
  readonly heartbeats: Array<{ id: string; lifecycleState: string }> = [];
  /** SendCommand naming an instance stopped in the pool (SSM refuses the call) */
  readonly commandsToStopped: string[] = [];
  private readonly commands = new Map<string, { mode: string; revision: string; polls: number; ids: string[] }>();
  private next = 0;

  constructor(private readonly clock: VirtualClock) {}

  add(lifecycleState: string, revision: string | null, agentOnlineAtMs: number): string {
    const id = `i-${(0xb000 + this.next++).toString(16).padStart(17, '0')}`;
    this.hosts.set(id, { id, lifecycleState, revision, agentOnlineAtMs });
    this.note(id, lifecycleState);
    return id;
  }

  private note(id: string, line: string): void {
    this.trace.set(id, [...(this.trace.get(id) ?? []), line]);
  }

  private move(host: Host, lifecycleState: string): void {
    host.lifecycleState = lifecycleState;
    this.note(host.id, lifecycleState);
  }

  private stopped(host: Host): boolean {
    return host.lifecycleState === 'Warmed:Stopped' || host.lifecycleState === 'Warmed:Hibernated';
  }

  agentOnline(host: Host): boolean {
    return !this.stopped(host) && this.clock.nowMs() >= host.agentOnlineAtMs;
  }

  inGroup(): Host[] {
    return [...this.hosts.values()].filter((h) => !h.lifecycleState.startsWith('Warmed:'));
  }

  /** The pool's instances; one CONTINUEd into the pool is stopped after the list that shows it proceeding. */
  inPool(): Host[] {
    const pool = [...this.hosts.values()].filter((h) => h.lifecycleState.startsWith('Warmed:'));
    const shown = pool.map((h) => ({ ...h }));
    for (const h of pool) if (h.lifecycleState === 'Warmed:Pending:Proceed') this.move(h, 'Warmed:Stopped');
    return shown;
  }

  /** A scale-out drawing from the pool: the instance starts and the launch hook holds it in Pending:Wait. */
  drawFromPool(id: string): void {
    const host = this.hosts.get(id)!;
    this.move(host, 'Pending:Wait');
    host.agentOnlineAtMs = this.clock.nowMs() + AGENT_DELAY_MS;
  }

  send(input: { InstanceIds?: string[]; Parameters?: Record<string, string[]> }): string {
    const ids = input.InstanceIds ?? [];
    const asleep = ids.filter((id) => this.stopped(this.hosts.get(id)!));
    if (asleep.length > 0) {
      this.commandsToStopped.push(...asleep);
      throw sdkError('InvalidInstanceId', 'Instances [[' + asleep.join(', ') + ']] not in a valid state for account');
    }
    const commandId = `${(this.commands.size + 1).toString(16).padStart(8, '0')}-1111-2222-3333-444455556666`;
    const mode = input.Parameters?.mode?.[0] ?? '';
    const revision = input.Parameters?.revision?.[0] ?? '';
    this.commands.set(commandId, { mode, revision, polls: 0, ids });
    return commandId;
  }

  list(commandId: string) {
    const c = this.commands.get(commandId);
    if (!c) throw sdkError('InvalidCommandId', `command ${commandId} not found`);
    c.polls += 1;
    const done = c.polls >= (c.mode === 'sync' ? SYNC_POLLS : 1);
    return c.ids.map((id) => {
      const host = this.hosts.get(id)!;
      if (done && c.mode === 'sync' && c.polls === SYNC_POLLS) {
        host.revision = c.revision;
        this.note(id, `synced ${c.revision}`);
      }
      const line = `${RESULT_PREFIX}${JSON.stringify({ revision: host.revision, status: c.mode === 'sync' ? 'synced' : 'probed', seconds: 1 })}`;
      const status = done ? 'Success' : 'InProgress';
      return {
        CommandId: commandId, InstanceId: id, DocumentName: DEFAULT_DOCUMENT_NAME, Status: status, StatusDetails: status,
        CommandPlugins: [{ Name: 'sync', Status: status, ResponseCode: done ? EXIT.synced : -1, ...(done ? { Output: `${line}\n` } : {}) }],
      } as const;
    });
  }

  complete(input: { InstanceId?: string; LifecycleHookName?: string; LifecycleActionResult?: string }): void {
    const host = this.hosts.get(input.InstanceId ?? '');
    const waiting = host?.lifecycleState === 'Pending:Wait' || host?.lifecycleState === 'Warmed:Pending:Wait';
    if (!host || !waiting || input.LifecycleHookName !== HOOK) {
      throw sdkError('ValidationError', `No active Lifecycle Action found with instance ID ${input.InstanceId}`);
    }
    this.note(host.id, input.LifecycleActionResult ?? '');
    if (input.LifecycleActionResult !== 'CONTINUE') this.hosts.delete(host.id);
    else this.move(host, host.lifecycleState === 'Warmed:Pending:Wait' ? 'Warmed:Pending:Proceed' : 'InService');
  }
}

const autoScaling = new AutoScalingClient(TEST_CLIENT_CONFIG);
const ssm = new SSMClient(TEST_CLIENT_CONFIG);
const mocks = [mockClient(autoScaling), mockClient(ssm)] as const;
const [asgMock, ssmMock] = mocks;

afterEach(() => {
  for (const m of mocks) m.reset();
});

const asInstance = (h: Host) => ({ InstanceId: h.id, LifecycleState: h.lifecycleState as 'InService', AvailabilityZone: 'us-east-1a' });

function wire(model: Model): void {
  asgMock.on(DescribeAutoScalingGroupsCommand).callsFake(async () => ({
    AutoScalingGroups: [{
      AutoScalingGroupName: GROUP, Instances: model.inGroup().map(asInstance),
      WarmPoolConfiguration: { MinSize: 1, PoolState: 'Stopped' },
    }],
  }));
  asgMock.on(DescribeWarmPoolCommand).callsFake(async (input: { AutoScalingGroupName?: string }) => ({
    WarmPoolConfiguration: { MinSize: 1, PoolState: 'Stopped' },
    Instances: input.AutoScalingGroupName === GROUP ? model.inPool().map(asInstance) : [],
  }));
  asgMock.on(DescribeLifecycleHooksCommand).resolves({ LifecycleHooks: [{ LifecycleHookName: HOOK, HeartbeatTimeout: 300 }] });
  asgMock.on(RecordLifecycleActionHeartbeatCommand).callsFake(async (input: { InstanceId?: string }) => {
    model.heartbeats.push({ id: input.InstanceId ?? '', lifecycleState: model.hosts.get(input.InstanceId ?? '')?.lifecycleState ?? 'gone' });
    return {};
  });
  asgMock.on(CompleteLifecycleActionCommand).callsFake(async (input: Parameters<Model['complete']>[0]) => {
    model.complete(input);
    return {};
  });
  ssmMock.on(DescribeInstanceInformationCommand).callsFake(async (input: { Filters?: Array<{ Values?: string[] }> }) => ({
    InstanceInformationList: (input.Filters?.[0]?.Values ?? []).map((id) => model.hosts.get(id))
      .filter((h): h is Host => h !== undefined && model.agentOnline(h))
      .map((h) => ({ InstanceId: h.id, PingStatus: 'Online' as const })),
  }));
  ssmMock.on(SendCommandCommand).callsFake(async (input: Parameters<Model['send']>[0]) => ({ Command: { CommandId: model.send(input) } }));
  ssmMock.on(ListCommandInvocationsCommand).callsFake(async (input: { CommandId?: string }) => ({
    CommandInvocations: model.list(input.CommandId ?? ''),
  }));
  ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
}

describe('a warm pool through the AWS adapters (mocked clients)', () => {
  it('syncs an instance launched into the pool, lets it sleep through a deploy, and syncs it to the new revision when it leaves', async () => {
    const clock = new VirtualClock(START_MS);
    const model = new Model(clock);
    wire(model);
    const store = new MemoryStore();
    let generation = 0;
    const deploy = async (revision: string): Promise<void> => {
      const spec = parseFleetSpec({
        autoScalingGroupName: GROUP, lifecycleHookName: HOOK, source: 's3://my-codebase/web', destination: '/var/www/app',
        revision, rollout: { maxUnavailable: 1 },
      });
      generation = (await store.putFleetSpec({ name: FLEET, spec, expectedGeneration: generation, nowMs: clock.nowMs() })).generation;
    };
    model.add('InService', 'rev-0', START_MS);
    model.add('InService', 'rev-0', START_MS);
    // launched into the pool from an image without the codebase; the hook holds it while it runs
    const warm = model.add('Warmed:Pending:Wait', null, START_MS + AGENT_DELAY_MS);
    await deploy('rev-0');

    let latest: FleetStatus | null = null;
    const abort = new AbortController();
    const manager = new Manager({
      store, clock, random: seededRandom(3), holder: 'controller-1', settings: { ...DEFAULT_SETTINGS, resyncMs: 30_000, pollMs: 5_000 },
      leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 10_000, log: silentLogger,
      fleetPort: new Ec2Fleet({ autoScaling, ssm }),
      commands: new SsmCommands({ client: ssm, clock, documentName: DEFAULT_DOCUMENT_NAME }),
      traffic: new ElbTraffic({ client: new ElasticLoadBalancingV2Client(TEST_CLIENT_CONFIG) }),
      observer: { statusWritten: (_fleet, status) => { latest = status; } },
    });
    const done = manager.run(abort.signal);
    const status = (): FleetStatus | null => latest;
    const until = (what: () => boolean): Promise<boolean> => clock.run({ untilMs: clock.nowMs() + 3_600_000, done: what });

    // 1. into the pool: synced while held, CONTINUE, then stopped there; the fleet is complete without it
    expect(await until(() => model.hosts.get(warm)!.lifecycleState === 'Warmed:Stopped'
      && status()?.revision === 'rev-0' && status()?.hostCounts.warm === 1)).toBe(true);
    expect(status()!.hostCounts).toMatchObject({ total: 2, inSync: 2, warm: 1 });
    expect(model.heartbeats.some((h) => h.id === warm && h.lifecycleState === 'Warmed:Pending:Wait')).toBe(true);

    // 2. a deploy while it sleeps: the in-service hosts move on; the stopped one gets no command
    await deploy('rev-1');
    expect(await until(() => status()?.revision === 'rev-1' && status()?.observedGeneration === generation)).toBe(true);
    expect(model.hosts.get(warm)).toMatchObject({ lifecycleState: 'Warmed:Stopped', revision: 'rev-0' });

    // 3. a scale-out draws it from the pool: synced to rev-1 before CONTINUE
    model.drawFromPool(warm);
    expect(await until(() => model.hosts.get(warm)!.lifecycleState === 'InService'
      && status()?.hostCounts.inSync === 3 && status()?.hostCounts.warm === undefined)).toBe(true);
    abort.abort();
    await clock.run({ untilMs: clock.nowMs() + 60_000 });
    await done;

    expect(model.trace.get(warm)).toEqual([
      'Warmed:Pending:Wait', 'synced rev-0', 'CONTINUE', 'Warmed:Pending:Proceed', 'Warmed:Stopped',
      'Pending:Wait', 'synced rev-1', 'CONTINUE', 'InService',
    ]);
    expect(model.hosts.get(warm)!.revision).toBe('rev-1');
    expect(model.commandsToStopped).toEqual([]);
    // the pool was read through DescribeWarmPool, by the group's name
    const warmCalls = asgMock.commandCalls(DescribeWarmPoolCommand).map((c) => c.args[0].input);
    expect(warmCalls.length).toBeGreaterThan(0);
    expect(warmCalls.every((i) => i.AutoScalingGroupName === GROUP)).toBe(true);
  });
});
