/**
 * CloudWatch Embedded Metric Format lines: the metrics deploy/infra alarms on (namespace Fleetsync, no
 * dimensions), written through pino whatever the log level, with values that follow a simulated rollout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS, METRIC_NAMESPACE } from '../../deploy/infra/lib/metrics.ts';
import { FLEET, startSimController, type LogLine, type SimController } from './simController.ts';

let controller: SimController | null = null;
afterEach(async () => {
  await controller?.stop();
  controller = null;
});

interface EmfLine extends LogLine {
  _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
}

const emfLines = (c: SimController): EmfLine[] => c.lines.filter((l): l is EmfLine => '_aws' in l);

/** Checks the line is valid EMF for our metrics and returns its values by metric name. */
function valuesOf(line: EmfLine): Record<string, number> {
  const [directive, ...more] = line._aws.CloudWatchMetrics;
  expect(more).toEqual([]);
  expect(directive?.Namespace).toBe(METRIC_NAMESPACE);
  expect(directive?.Dimensions).toEqual([[]]);
  expect(typeof line._aws.Timestamp).toBe('number');
  const values: Record<string, number> = {};
  for (const metric of directive?.Metrics ?? []) {
    const known = Object.values(METRICS).find((m) => m.name === metric.Name);
    expect(known, metric.Name).toBeDefined();
    expect(metric.Unit).toBe(known?.unit);
    const value = line[metric.Name];
    expect(typeof value, metric.Name).toBe('number');
    values[metric.Name] = value as number;
  }
  return values;
}

/** Publishes once and returns the values of the lines it wrote. */
async function publish(c: SimController): Promise<{ fleet: Record<string, number>; leaders: Record<string, number>; lines: EmfLine[] }> {
  const start = emfLines(c).length;
  await c.emf!.publish();
  const lines = emfLines(c).slice(start);
  const fleetLine = lines.find((l) => l.fleet === FLEET);
  const leaderLine = lines.find((l) => 'FleetsWithoutLeader' in l);
  return { fleet: fleetLine ? valuesOf(fleetLine) : {}, leaders: leaderLine ? valuesOf(leaderLine) : {}, lines };
}

describe('CloudWatch EMF lines', () => {
  it('FailedHosts on every status write and SecondsSinceProgress through a rollout, even at log level warn', async () => {
    controller = await startSimController({
      hosts: 4, syncSeconds: 60, failRate: 0, emf: true, logLevel: 'warn', rollout: { maxUnavailable: 1 },
    });
    const c = controller;
    // the status writes while the fleet settled each published FailedHosts
    const written = emfLines(c).filter((l) => 'FailedHosts' in l);
    expect(written.length).toBeGreaterThan(0);
    expect(valuesOf(written[written.length - 1]!)).toEqual({ FailedHosts: 0 });
    expect(written.every((l) => l.fleet === FLEET && l.level === 30 && l.msg === 'metrics')).toBe(true);

    expect(await publish(c)).toMatchObject({ fleet: { FailedHosts: 0, SecondsSinceProgress: 0 }, leaders: { FleetsWithoutLeader: 0 } });

    await c.deploy('rev-1');
    await c.advance(50_000); // the first host needs 60 s: no host has reached rev-1 yet
    const early = (await publish(c)).fleet.SecondsSinceProgress!;
    expect(early).toBeGreaterThanOrEqual(45);
    expect(early).toBeLessThanOrEqual(50);

    const reached = (): boolean => c.latest()?.lastAttemptedRevision === 'rev-1' && (c.latest()?.hostCounts.inSync ?? 0) >= 1;
    expect(await c.runUntil(reached, 60_000)).toBe(true);
    await c.advance(20_000);
    expect((await publish(c)).fleet.SecondsSinceProgress).toBe(20);

    expect(await c.runUntil(() => c.latest()?.revision === 'rev-1', 600_000)).toBe(true);
    expect((await publish(c)).fleet).toEqual({ FailedHosts: 0, SecondsSinceProgress: 0 });
  });

  it('FailedHosts counts failed hosts; a halted rollout counts as stalled', async () => {
    controller = await startSimController({
      hosts: 3, syncSeconds: 60, failRate: 1, emf: true, rollout: { maxUnavailable: 1, maxAttempts: 1, maxFailures: 2 },
    });
    const c = controller;
    await c.deploy('rev-1');
    expect(await c.runUntil(() => c.latest()?.hostCounts.failed === 2, 3_600_000)).toBe(true);
    const last = emfLines(c).filter((l) => 'FailedHosts' in l).pop()!;
    expect(valuesOf(last)).toEqual({ FailedHosts: 2 });
    // halted at maxFailures: the rollout is stuck, and says so
    await c.advance(120_000);
    expect((await publish(c)).fleet.SecondsSinceProgress).toBeGreaterThan(100);
  });

  it('a paused rollout does not count as stalled, nor does the pause once it is resumed', async () => {
    controller = await startSimController({ hosts: 4, syncSeconds: 60, emf: true, rollout: { maxUnavailable: 1 } });
    const c = controller;
    const setPaused = async (paused: boolean): Promise<void> => {
      const fleet = (await c.memory.getFleet(FLEET))!;
      await c.memory.putFleetSpec({
        name: FLEET, spec: { ...fleet.spec, rollout: { ...fleet.spec.rollout, paused } }, expectedGeneration: fleet.generation,
        nowMs: c.clock.nowMs(),
      });
    };
    await c.deploy('rev-1');
    await c.advance(30_000);
    await setPaused(true);
    await c.advance(300_000);
    expect((await publish(c)).fleet.SecondsSinceProgress).toBe(0);
    await setPaused(false);
    await c.advance(10_000);
    const resumed = (await publish(c)).fleet.SecondsSinceProgress!;
    expect(resumed).toBeGreaterThanOrEqual(5);
    expect(resumed).toBeLessThanOrEqual(10);
  });

  it('FleetsWithoutLeader counts fleets whose lease is released or expired', async () => {
    controller = await startSimController({ hosts: 1, emf: true });
    const c = controller;
    expect((await publish(c)).leaders).toEqual({ FleetsWithoutLeader: 0 });
    await c.stop(); // releases the lease of web
    await c.memory.putFleetSpec({ name: 'api', spec: (await c.memory.getFleet(FLEET))!.spec, expectedGeneration: 0, nowMs: c.clock.nowMs() });
    expect(await c.memory.acquireLease({ fleet: 'api', holder: 'another-task', durationMs: 15_000, nowMs: c.clock.nowMs() })).not.toBeNull();

    let round = await publish(c);
    expect(round.leaders).toEqual({ FleetsWithoutLeader: 1 });
    expect(round.lines.find((l) => 'FleetsWithoutLeader' in l)?.fleets).toBe(FLEET);
    await c.advance(15_000); // api's lease expires unrenewed
    round = await publish(c);
    expect(round.leaders).toEqual({ FleetsWithoutLeader: 2 });
    expect(round.lines.find((l) => 'FleetsWithoutLeader' in l)?.fleets).toBe(`api,${FLEET}`);
  });
});
