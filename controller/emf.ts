/**
 * CloudWatch metrics as Embedded Metric Format log lines (a JSON line with an `_aws` key, written through pino):
 * CloudWatch Logs turns them into the metrics deploy/infra alarms on, with no PutMetricData call and no extra
 * IAM permission. AWS mode only: elsewhere nobody reads them.
 */
import { METRICS, METRIC_NAMESPACE, type MetricKey } from '../deploy/infra/lib/metrics.ts';
import type { Clock } from './ports/clock.ts';
import type { Store } from './ports/store.ts';
import type { Logger } from './log.ts';
import type { FleetStatus } from '../state/spec.ts';
import type { Metrics } from './metrics.ts';
import type { ReconcilerObserver } from './reconciler/observer.ts';

export interface EmfPublisherOptions {
  /** EMF lines are written at info level whatever the configured level: the alarms depend on them */
  log: Logger;
  clock: Clock;
  store: Store;
  metrics: Metrics;
  /** how often every gauge is published again: below the alarms' one-minute period */
  intervalMs?: number;
}

export class EmfPublisher {
  readonly observer: ReconcilerObserver;
  private readonly log: Logger;
  private readonly intervalMs: number;

  constructor(private readonly o: EmfPublisherOptions) {
    this.log = o.log.child({ emf: true }, { level: 'info' });
    this.intervalMs = o.intervalMs ?? 30_000;
    this.observer = {
      statusWritten: (fleet: string, status: FleetStatus) => this.emit({ failedHosts: status.hostCounts.failed }, { fleet }),
    };
  }

  /** One EMF line; `properties` travel along (searchable in Logs Insights) but are not dimensions. */
  emit(values: Partial<Record<MetricKey, number>>, properties: Record<string, string | number> = {}): void {
    const keys = (Object.keys(values) as MetricKey[]).filter((k) => Number.isFinite(values[k]));
    if (keys.length === 0) return;
    const line: Record<string, unknown> = {
      ...properties,
      _aws: {
        Timestamp: this.o.clock.nowMs(),
        CloudWatchMetrics: [{
          Namespace: METRIC_NAMESPACE,
          // published without dimensions: the alarms watch each metric over every fleet
          Dimensions: [[]],
          Metrics: keys.map((k) => ({ Name: METRICS[k].name, Unit: METRICS[k].unit })),
        }],
      },
    };
    for (const k of keys) line[METRICS[k].name] = values[k];
    this.log.info(line, 'metrics');
  }

  /** Every gauge once: the led fleets' failed hosts and stall, and how many fleets have no live leader. */
  async publish(): Promise<void> {
    for (const led of this.o.metrics.ledFleets()) {
      this.emit({
        ...(led.status ? { failedHosts: led.status.hostCounts.failed } : {}),
        secondsSinceProgress: led.secondsSinceProgress,
      }, { fleet: led.fleet });
    }
    const without = await this.fleetsWithoutLeader();
    this.emit({ fleetsWithoutLeader: without.length }, without.length > 0 ? { fleets: without.join(',') } : {});
  }

  /** Fleets whose lease is absent, released or expired. */
  async fleetsWithoutLeader(): Promise<string[]> {
    const { fleets } = await this.o.store.listFleets();
    const now = this.o.clock.nowMs();
    const without: string[] = [];
    for (const { name } of fleets) {
      const lease = await this.o.store.getLease(name);
      if (!lease || lease.holder === '' || lease.expiresAtMs <= now) without.push(name);
    }
    return without.sort();
  }

  /** Publishes every interval until `signal` aborts. A failed round is logged and the next one tries again. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.o.clock.sleep(this.intervalMs, signal);
      } catch {
        return;
      }
      await this.publish().catch((error: unknown) => this.o.log.warn({ err: error }, 'could not publish CloudWatch metrics'));
    }
  }
}
