/**
 * /metrics against the controller over the simulator: valid Prometheus text at every scrape, host counts equal
 * to /status's during and after a rollout, attempts, durations, queue, leases and control-plane calls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../controller/metrics.ts';
import type { FleetListDocument } from '../../controller/status/fleetDocument.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import type { FleetStatus } from '../../state/spec.ts';
import { parsePrometheusText, valueOf, type Exposition } from './promText.ts';
import { FLEET, startSimController, type SimController } from './simController.ts';

let controller: SimController | null = null;
afterEach(async () => {
  await controller?.stop();
  controller = null;
});

const BUCKETS = ['inSync', 'syncing', 'queued', 'failed', 'launching'] as const;

async function scrape(c: SimController): Promise<Exposition> {
  const response = await c.get('/metrics');
  expect(response.status).toBe(200);
  return parsePrometheusText(response.text);
}

async function statusOf(c: SimController): Promise<FleetStatus> {
  const response = await c.get('/status');
  expect(response.status).toBe(200);
  const list = JSON.parse(response.text) as FleetListDocument;
  const status = list.items.find((i) => i.metadata.name === FLEET)?.status;
  if (!status) throw new Error('no status for the fleet on /status');
  return status;
}

/** Scrapes both endpoints at one virtual moment and checks that the host counts agree. */
async function expectCountsMatch(c: SimController): Promise<{ metrics: Exposition; status: FleetStatus }> {
  const [metrics, status] = [await scrape(c), await statusOf(c)];
  for (const bucket of BUCKETS) {
    expect(valueOf(metrics, 'fleetsync_hosts', { fleet: FLEET, bucket }), bucket).toBe(status.hostCounts[bucket]);
  }
  const total = BUCKETS.reduce((sum, bucket) => sum + valueOf(metrics, 'fleetsync_hosts', { fleet: FLEET, bucket })!, 0);
  expect(total).toBe(status.hostCounts.total);
  return { metrics, status };
}

describe('/metrics', () => {
  it('matches /status host counts during and after a rollout, and counts its attempts', async () => {
    controller = await startSimController({ hosts: 8, syncSeconds: 60, rollout: { maxUnavailable: 2 } });
    const c = controller;
    const before = await expectCountsMatch(c);
    expect(valueOf(before.metrics, 'fleetsync_fleet_info', { fleet: FLEET, revision: 'rev-0' })).toBe(1);
    expect(valueOf(before.metrics, 'fleetsync_fleet_in_sync', { fleet: FLEET })).toBe(1);

    await c.deploy('rev-1');
    const rolling = (): boolean => c.latest()?.lastAttemptedRevision === 'rev-1' && (c.latest()?.hostCounts.syncing ?? 0) > 0;
    expect(await c.runUntil(rolling, 60_000)).toBe(true);
    const seen = new Set<string>();
    for (let checkpoint = 0; checkpoint < 6; checkpoint++) {
      const { metrics, status } = await expectCountsMatch(c);
      if (status.revision === 'rev-1') break;
      seen.add(JSON.stringify(status.hostCounts));
      expect(status.hostCounts.syncing).toBeLessThanOrEqual(2);
      expect(valueOf(metrics, 'fleetsync_fleet_info', { fleet: FLEET, revision: 'rev-1' })).toBe(1);
      expect(valueOf(metrics, 'fleetsync_fleet_info', { fleet: FLEET, revision: 'rev-0' })).toBeUndefined();
      expect(valueOf(metrics, 'fleetsync_fleet_in_sync', { fleet: FLEET })).toBe(0);
      await c.advance(37_000);
    }
    // the checkpoints saw the rollout move: several different mixes of buckets
    expect(seen.size).toBeGreaterThanOrEqual(3);

    expect(await c.runUntil(() => c.latest()?.revision === 'rev-1' && c.latest()?.hostCounts.inSync === 8, 1_800_000)).toBe(true);
    const after = await expectCountsMatch(c);
    const m = after.metrics;
    expect(after.status.hostCounts).toMatchObject({ total: 8, inSync: 8 });
    expect(valueOf(m, 'fleetsync_fleet_in_sync', { fleet: FLEET })).toBe(1);
    expect(valueOf(m, 'fleetsync_rollout_seconds_since_progress', { fleet: FLEET })).toBe(0);
    expect(valueOf(m, 'fleetsync_sync_attempts_total', { fleet: FLEET, outcome: 'success' })).toBe(8);
    expect(m.samples.filter((s) => s.name === 'fleetsync_sync_attempts_total' && s.labels.outcome !== 'success')).toEqual([]);
    // each sync takes 60 s of virtual time, plus at most a poll interval (5 s) and the send window (1 s)
    const count = valueOf(m, 'fleetsync_sync_attempt_duration_seconds_count', { fleet: FLEET, outcome: 'success' })!;
    const sum = valueOf(m, 'fleetsync_sync_attempt_duration_seconds_sum', { fleet: FLEET, outcome: 'success' })!;
    expect(count).toBe(8);
    expect(sum / count).toBeGreaterThanOrEqual(60);
    expect(sum / count).toBeLessThanOrEqual(66);
    expect(valueOf(m, 'fleetsync_sync_attempt_duration_seconds_bucket', { fleet: FLEET, outcome: 'success', le: '30' })).toBe(0);
    expect(valueOf(m, 'fleetsync_sync_attempt_duration_seconds_bucket', { fleet: FLEET, outcome: 'success', le: '120' })).toBe(8);
    expect(valueOf(m, 'fleetsync_reconcile_pass_duration_seconds_count', { fleet: FLEET })).toBeGreaterThan(2);
    expect(valueOf(m, 'fleetsync_workqueue_depth', { fleet: FLEET })).toBe(0);
    expect(valueOf(m, 'fleetsync_workqueue_retries_total', { fleet: FLEET })).toBe(0);
    expect(valueOf(m, 'fleetsync_commands_in_flight', { fleet: FLEET })).toBe(0);
    expect(valueOf(m, 'fleetsync_leases_held')).toBe(1);
    expect(m.types.get('fleetsync_process_resident_memory_bytes')).toBe('gauge');
  });

  it('drops a fleet\'s gauges when this process stops leading it', async () => {
    controller = await startSimController({ hosts: 2 });
    const c = controller;
    expect(valueOf(await scrape(c), 'fleetsync_hosts', { fleet: FLEET, bucket: 'inSync' })).toBe(2);
    c.faults.mode = 'reject'; // renewals fail: the leader steps down before its lease can expire
    await c.advance(20_000);
    expect(c.manager.leases()).toEqual([]);
    const m = await scrape(c);
    const gauges = ['fleetsync_hosts', 'fleetsync_fleet_info', 'fleetsync_fleet_in_sync', 'fleetsync_rollout_seconds_since_progress',
      'fleetsync_workqueue_depth', 'fleetsync_commands_in_flight'];
    for (const name of gauges) expect(m.types.get(name), name).toBe('gauge');
    // another task leads it now and reports it: this one must not report stale numbers next to it
    expect(m.samples.filter((s) => gauges.includes(s.name))).toEqual([]);
    expect(valueOf(m, 'fleetsync_leases_held')).toBe(0);
  });

  it('counts control-plane calls by operation and outcome, throttles apart from errors', async () => {
    const metrics = new Metrics({ clock: new VirtualClock(0) });
    metrics.onCall('DescribeAutoScalingGroups', 'ok');
    metrics.onCall('DescribeAutoScalingGroups', 'ok');
    metrics.onCall('SendCommand', 'throttled');
    metrics.onCall('SendCommand', 'error');
    metrics.onCall('SendCommand', 'ok');
    const m = parsePrometheusText(await metrics.registry.metrics());
    const calls = (operation: string, outcome: string): number | undefined => valueOf(m, 'fleetsync_control_plane_calls_total', { operation, outcome });
    expect(calls('DescribeAutoScalingGroups', 'ok')).toBe(2);
    expect(calls('DescribeAutoScalingGroups', 'throttled')).toBeUndefined();
    expect(calls('SendCommand', 'throttled')).toBe(1);
    expect(calls('SendCommand', 'error')).toBe(1);
    expect(calls('SendCommand', 'ok')).toBe(1);
    expect(m.types.get('fleetsync_control_plane_calls_total')).toBe('counter');
  });
});

describe('the Prometheus text reader the tests rely on', () => {
  it('rejects what a scraper would reject', () => {
    const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n';
    expect(valueOf(parsePrometheusText(ok), 'a_total', { x: '1' })).toBe(3);
    expect(() => parsePrometheusText('a_total 3\n')).toThrow(/without a TYPE/);
    expect(() => parsePrometheusText('# TYPE a gauge\na{x="1} 3\n')).toThrow(/not closed|expected/);
    expect(() => parsePrometheusText('# TYPE a gauge\na{x="1"} three\n')).toThrow(/not a number/);
    expect(() => parsePrometheusText('# TYPE a gauge\na 1\na 2\n')).toThrow(/twice/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'))
      .toThrow(/cumulative/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n')).toThrow(/_count/);
    expect(() => parsePrometheusText('# TYPE a gauge\na 1')).toThrow(/newline/);
  });
});
