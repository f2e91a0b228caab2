/**
 * Prometheus metrics of the controller (prom-client), fed by the reconciler's observer and the adapters' call
 * counter. Per-fleet gauges come from the fleets this process leads, so several controller tasks never report
 * the same fleet twice; a fleet's gauges disappear when its leader here stops.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from './ports/clock.ts';
import type { FleetStatus } from '../state/spec.ts';
import type { Bucket } from '../state/buckets.ts';
import type { ReconcilerObserver, ReconcilerProbe } from './reconciler/observer.ts';
import type { OnCall } from './aws/callCounter.ts';

/** the buckets of a rollout's hosts (their sum is hostCounts.total); warm-pool hosts are counted beside them */
const BUCKETS: ReadonlyArray<Exclude<Bucket, 'warm'>> = ['inSync', 'syncing', 'queued', 'failed', 'launching'];

/** What this process knows of a fleet it leads. */
interface LedFleet {
  probe: ReconcilerProbe;
  /** retries already counted, so the counter only ever grows */
  retriesSeen: number;
  status: FleetStatus | null;
  /** when this process took the fleet over: progress before it is not known here */
  sinceMs: number;
  /** when the rollout last began to run: started, resumed after a pause, or seen first */
  runningSinceMs: number;
  /** when a host last reached each revision (a host synced to it) */
  reached: Map<string, number>;
}

export interface FleetSnapshot {
  fleet: string;
  status: FleetStatus | null;
  /** during a rollout, seconds since a host last reached the desired revision; 0 when none runs */
  secondsSinceProgress: number;
}

export interface LeaseSource {
  leases(): string[];
}

/**
 * A rollout runs: it has not finished and is not paused (a pause stops progress on purpose). A halted rollout
 * runs: it is stuck until someone acts, which is what the stall alarm is for.
 */
function rolloutRunning(status: FleetStatus | null): status is FleetStatus & { rollout: NonNullable<FleetStatus['rollout']> } {
  const rollout = status?.rollout;
  if (!status || !rollout || rollout.finishedAtMs !== undefined) return false;
  if (status.lastAttemptedRevision !== undefined && rollout.revision !== status.lastAttemptedRevision) return false;
  const progressing = status.conditions.find((c) => c.type === 'Progressing');
  // a step's pause (stepped rollouts) stops progress on purpose too
  return progressing?.reason !== 'RolloutPaused' && progressing?.reason !== 'StepPaused';
}

export class Metrics {
  readonly registry = new Registry();
  readonly observer: ReconcilerObserver;
  readonly onCall: OnCall;
  private readonly fleets = new Map<string, LedFleet>();
  private leaseSource: LeaseSource | null = null;

  private readonly hosts: Gauge<'fleet' | 'bucket'>;
  private readonly fleetInfo: Gauge<'fleet' | 'revision'>;
  private readonly inSync: Gauge<'fleet'>;
  private readonly sinceProgress: Gauge<'fleet'>;
  private readonly attempts: Counter<'fleet' | 'outcome'>;
  private readonly attemptSeconds: Histogram<'fleet' | 'outcome'>;
  private readonly passSeconds: Histogram<'fleet'>;
  private readonly queueDepth: Gauge<'fleet'>;
  private readonly retries: Counter<'fleet'>;
  private readonly inFlight: Gauge<'fleet'>;
  private readonly calls: Counter<'operation' | 'outcome'>;
  private readonly leases: Gauge;
  private readonly lifecycle: Counter<'fleet' | 'result'>;

  constructor(private readonly options: { clock: Clock }) {
    const registers = [this.registry];
    // the defaults name themselves process_* and nodejs_*
    collectDefaultMetrics({ register: this.registry, prefix: 'fleetsync_' });
    this.hosts = new Gauge({
      name: 'fleetsync_hosts', help: 'Hosts of a fleet by the bucket of their machine state (the status hostCounts)',
      labelNames: ['fleet', 'bucket'], registers,
      collect: () => this.collectFleets(),
    });
    this.fleetInfo = new Gauge({
      name: 'fleetsync_fleet_info', help: 'Always 1; the label revision is the fleet\'s desired revision',
      labelNames: ['fleet', 'revision'], registers,
    });
    this.inSync = new Gauge({
      name: 'fleetsync_fleet_in_sync', help: '1 when every live host of the fleet runs its desired revision, else 0',
      labelNames: ['fleet'], registers,
    });
    this.sinceProgress = new Gauge({
      name: 'fleetsync_rollout_seconds_since_progress',
      help: 'During a rollout, seconds since a host last reached the desired revision; 0 when none runs',
      labelNames: ['fleet'], registers,
    });
    this.attempts = new Counter({
      name: 'fleetsync_sync_attempts_total',
      help: 'Finished sync attempts by outcome: success, timedOut, syncFailed, checkFailed, busy, sendFailed, verifyFailed, cancelled',
      labelNames: ['fleet', 'outcome'], registers,
    });
    this.attemptSeconds = new Histogram({
      name: 'fleetsync_sync_attempt_duration_seconds', help: 'Sync attempt duration, from the attempt being recorded to its end',
      labelNames: ['fleet', 'outcome'], registers, buckets: [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600],
    });
    this.passSeconds = new Histogram({
      name: 'fleetsync_reconcile_pass_duration_seconds', help: 'Reconcile pass duration (read spec, observe the group, diff)',
      labelNames: ['fleet'], registers, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.queueDepth = new Gauge({
      name: 'fleetsync_workqueue_depth', help: 'Hosts waiting in the fleet\'s work queue', labelNames: ['fleet'], registers,
    });
    this.retries = new Counter({
      name: 'fleetsync_workqueue_retries_total', help: 'Hosts put back in the work queue with backoff after their work failed',
      labelNames: ['fleet'], registers,
      collect: () => this.collectRetries(),
    });
    this.inFlight = new Gauge({
      name: 'fleetsync_commands_in_flight', help: 'Commands the fleet\'s leader is following', labelNames: ['fleet'], registers,
    });
    this.calls = new Counter({
      name: 'fleetsync_control_plane_calls_total',
      help: 'Control-plane calls by operation and outcome (ok, throttled, error): throttles are counted apart from errors',
      labelNames: ['operation', 'outcome'], registers,
    });
    this.leases = new Gauge({
      name: 'fleetsync_leases_held', help: 'Fleet leases this controller holds', registers,
      collect: () => this.leases.set(this.leaseSource ? this.leaseSource.leases().length : this.fleets.size),
    });
    this.lifecycle = new Counter({
      name: 'fleetsync_lifecycle_actions_total', help: 'Lifecycle actions completed for launching hosts (CONTINUE, ABANDON)',
      labelNames: ['fleet', 'result'], registers,
    });

    this.onCall = (operation, outcome) => this.calls.inc({ operation, outcome });
    this.observer = {
      reconcilerStarted: (fleet, probe) => {
        const now = this.options.clock.nowMs();
        this.fleets.set(fleet, { probe, retriesSeen: 0, status: null, sinceMs: now, runningSinceMs: now, reached: new Map() });
        this.retries.inc({ fleet }, 0);
      },
      reconcilerStopped: (fleet) => {
        this.countRetries(fleet);
        this.fleets.delete(fleet);
      },
      statusWritten: (fleet, status) => {
        const led = this.fleets.get(fleet);
        if (!led) return;
        // a resumed rollout has not stalled while it was paused
        if (!rolloutRunning(led.status) && rolloutRunning(status)) led.runningSinceMs = this.options.clock.nowMs();
        led.status = status;
        // only the rollout's revision matters for progress
        for (const revision of led.reached.keys()) if (revision !== status.rollout?.revision) led.reached.delete(revision);
      },
      attemptFinished: (o) => {
        this.attempts.inc({ fleet: o.fleet, outcome: o.outcome });
        if (o.durationMs !== null) this.attemptSeconds.observe({ fleet: o.fleet, outcome: o.outcome }, o.durationMs / 1000);
        const led = this.fleets.get(o.fleet);
        if (led && o.outcome === 'success' && o.targetRevision !== null) led.reached.set(o.targetRevision, this.options.clock.nowMs());
      },
      passFinished: (fleet, durationMs) => this.passSeconds.observe({ fleet }, durationMs / 1000),
      lifecycleCompleted: (fleet, _instanceId, result) => this.lifecycle.inc({ fleet, result }),
    };
  }

  /** Counts leases from the manager rather than from running reconcilers. */
  watchLeases(source: LeaseSource): void {
    this.leaseSource = source;
  }

  /** The fleets this process leads, with what the CloudWatch metrics need. */
  ledFleets(): FleetSnapshot[] {
    return [...this.fleets.keys()].sort().map((fleet) => ({
      fleet, status: this.fleets.get(fleet)!.status, secondsSinceProgress: this.secondsSinceProgress(fleet),
    }));
  }

  secondsSinceProgress(fleet: string): number {
    const led = this.fleets.get(fleet);
    if (!led || !rolloutRunning(led.status)) return 0;
    const rollout = led.status.rollout;
    const last = Math.max(rollout.startedAtMs, led.sinceMs, led.runningSinceMs, led.reached.get(rollout.revision) ?? 0);
    return Math.max(0, Math.floor((this.options.clock.nowMs() - last) / 1000));
  }

  private collectFleets(): void {
    for (const gauge of [this.hosts, this.fleetInfo, this.inSync, this.sinceProgress, this.queueDepth, this.inFlight]) gauge.reset();
    for (const [fleet, led] of this.fleets) {
      this.queueDepth.set({ fleet }, led.probe.queueDepth());
      this.inFlight.set({ fleet }, led.probe.commandsInFlight());
      this.sinceProgress.set({ fleet }, this.secondsSinceProgress(fleet));
      const status = led.status;
      if (!status) continue;
      for (const bucket of BUCKETS) this.hosts.set({ fleet, bucket }, status.hostCounts[bucket]);
      if (status.lastAttemptedRevision !== undefined) this.fleetInfo.set({ fleet, revision: status.lastAttemptedRevision }, 1);
      const ready = status.conditions.find((c) => c.type === 'Ready');
      this.inSync.set({ fleet }, ready?.status === 'True' ? 1 : 0);
    }
  }

  private countRetries(fleet: string): void {
    const led = this.fleets.get(fleet);
    if (!led) return;
    const now = led.probe.retries();
    if (now > led.retriesSeen) this.retries.inc({ fleet }, now - led.retriesSeen);
    led.retriesSeen = now;
  }

  private collectRetries(): void {
    for (const fleet of this.fleets.keys()) this.countRetries(fleet);
  }
}
