/**
 * Benchmark: one reconcile pass over a large fleet with nothing to do. The fleet's leader (the real
 * FleetReconciler) observes a 5,000-instance group through the AWS adapter (Ec2Fleet on aws-sdk-client-mock, so
 * the adapter's own paging and batching run, not the network) and a MemoryStore holding every host in sync at
 * the desired revision, as a previous leader left it. The first pass (the new leader's) is not counted; each
 * later one is: CPU from the resync timer firing to the status write it schedules (the plan and the status over
 * every host included), and the process's RSS after the last.
 *
 *   node --import tsx bench/reconcilePass.ts [--hosts 5000] [--passes 20]
 *
 * Goal (issue 15): < 100 ms CPU per pass and < 200 MB RSS at 5,000 hosts.
 */
import { parseArgs } from 'node:util';
import { mockClient } from 'aws-sdk-client-mock';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Ec2Fleet } from '../controller/aws/ec2Fleet.ts';
import { FleetReconciler } from '../controller/reconciler/fleetReconciler.ts';
import { DEFAULT_SETTINGS } from '../controller/reconciler/settings.ts';
import { silentLogger } from '../controller/log.ts';
import { MemoryStore } from '../controller/sim/memoryStore.ts';
import { VirtualClock } from '../controller/sim/virtualClock.ts';
import { seededRandom } from '../controller/sim/random.ts';
import { SimWorld } from '../controller/sim/simWorld.ts';
import { SimCommands } from '../controller/sim/simCommands.ts';
import { SimTraffic } from '../controller/sim/simTraffic.ts';
import { parseFleetSpec } from '../state/validate.ts';
import type { HostRecord } from '../state/host.ts';

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '5000' }, passes: { type: 'string', default: '20' } } });
const HOSTS = Number(values.hosts);
const PASSES = Number(values.passes);
const FLEET = 'web';
const GROUP = 'web-asg';
const REVISION = 'rev-1';
const CLIENT = { region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' } };

const ids = Array.from({ length: HOSTS }, (_, i) => `i-${(i + 1).toString(16).padStart(17, '0')}`);

function inSync(instanceId: string): HostRecord {
  return {
    instanceId, state: 'inSync',
    context: {
      instanceId, lifecycleState: 'InService', launching: false, lifecycleCompleted: true, agentOnline: true,
      reportedRevision: REVISION, desiredRevision: REVISION, targetRevision: REVISION, attempt: 1,
      attemptId: `a-${instanceId}`, commandId: 'cmd-1', deadlineMs: null, lastError: null, failedRevision: null,
      retryRequestId: null, deregistered: false, sinceMs: 0,
    },
  };
}

async function main(): Promise<void> {
  const autoScaling = new AutoScalingClient(CLIENT);
  const ssm = new SSMClient(CLIENT);
  // Auto Scaling pages of 1,600 instances (about what one 1 MB page holds); SSM 50 per call, as the real ones
  const asgPage = 1_600;
  const asgMock = mockClient(autoScaling);
  asgMock.on(DescribeAutoScalingGroupsCommand).callsFake((input: { NextToken?: string }) => {
    const from = Number(input.NextToken ?? 0);
    const next = from + asgPage;
    return {
      AutoScalingGroups: [{
        AutoScalingGroupName: GROUP,
        Instances: ids.slice(from, next).map((id) => ({
          InstanceId: id, LifecycleState: 'InService', AvailabilityZone: 'us-east-1a', HealthStatus: 'Healthy', ProtectedFromScaleIn: false,
        })),
      }],
      ...(next < ids.length ? { NextToken: String(next) } : {}),
    };
  });
  const ssmMock = mockClient(ssm);
  ssmMock.on(DescribeInstanceInformationCommand).callsFake((input: { Filters: Array<{ Values: string[] }> }) => ({
    InstanceInformationList: input.Filters[0]!.Values.map((id) => ({ InstanceId: id, PingStatus: 'Online' })),
  }));
  let awsCalls = 0;
  const fleetPort = new Ec2Fleet({ autoScaling, ssm, onCall: () => { awsCalls += 1; } });

  const clock = new VirtualClock(0);
  const store = new MemoryStore();
  const spec = parseFleetSpec({ autoScalingGroupName: GROUP, source: 's3://bench-bucket/app', destination: '/var/www/app', revision: REVISION });
  await store.putFleetSpec({ name: FLEET, spec, expectedGeneration: 0, nowMs: 0 });
  const lease = (await store.acquireLease({ fleet: FLEET, holder: 'bench', durationMs: 3_600_000_000, nowMs: 0 }))!;
  for (const id of ids) await store.putHost({ fleet: FLEET, host: inSync(id), token: lease.token });
  // nothing should be sent: a command here would be a pass with something to do
  const world = new SimWorld({ clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: REVISION });
  const commands = new SimCommands(world, { syncMs: 1_000, probeMs: 1_000, failRate: 0 });

  const settings = { ...DEFAULT_SETTINGS, resyncMs: 30_000 };
  let passes = 0;
  let lastPassAtMs = 0;
  const abort = new AbortController();
  const reconciler = new FleetReconciler({
    fleet: FLEET, lease, store, fleetPort, commands, traffic: new SimTraffic(world), clock, random: seededRandom(2),
    settings, log: silentLogger, observer: {
      passFinished: () => {
        passes += 1;
        lastPassAtMs = clock.nowMs();
      },
    },
  });
  const running = reconciler.run(abort.signal);
  // the new leader's first pass, and the work it starts, settle before counting
  await clock.run({ untilMs: settings.resyncMs - 1_000 });
  if (passes !== 1) throw new Error(`expected the leader's first pass, saw ${passes}`);

  const cpuMs: number[] = [];
  const callsBefore = awsCalls;
  for (let k = 0; k < PASSES; k++) {
    const before: number = passes;
    const dueAtMs = lastPassAtMs + settings.resyncMs;
    // the rest of the period (spec polls) is not the pass
    await clock.run({ untilMs: dueAtMs - 1 });
    const started = process.cpuUsage();
    // the pass, and what it schedules: the rollout plan (at once) and the status write (after its debounce)
    await clock.run({ untilMs: dueAtMs + settings.statusDebounceMs + 1 });
    const used = process.cpuUsage(started);
    if (passes !== before + 1) throw new Error(`expected one pass at ${dueAtMs} ms, saw ${passes - before}`);
    cpuMs.push((used.user + used.system) / 1000);
    // the mocks (sinon stubs) keep every call and its answer: that memory is the harness's, not the controller's
    asgMock.resetHistory();
    ssmMock.resetHistory();
  }
  const rssMb = process.memoryUsage().rss / 1e6;
  const heapMb = process.memoryUsage().heapUsed / 1e6;
  abort.abort();
  await clock.run({ untilMs: clock.nowMs() + 60_000 });
  await running;

  const sorted = [...cpuMs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const max = sorted[sorted.length - 1]!;
  console.log(`reconcile pass over ${HOSTS} hosts with nothing to do (${PASSES} passes after the first):`);
  console.log(`  CPU per pass: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms (goal < 100 ms)`);
  console.log(`  RSS: ${rssMb.toFixed(0)} MB (goal < 200 MB); JS heap in use: ${heapMb.toFixed(0)} MB`);
  console.log(`  AWS calls per pass: ${(awsCalls - callsBefore) / PASSES}; commands sent: ${commands.syncsSent}`);
  if (commands.syncsSent > 0) throw new Error('a pass with nothing to do sent a command');
  if (median >= 100 || rssMb >= 200) process.exitCode = 1;
}

await main();
