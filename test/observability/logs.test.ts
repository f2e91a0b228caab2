/**
 * The controller's JSON log lines (pino, captured through a destination stream): a failed attempt names the
 * fleet, the instance, the attempt, the command and the host's reason; the counts agree with /metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parsePrometheusText, valueOf } from './promText.ts';
import { FLEET, startSimController, type LogLine, type SimController } from './simController.ts';

let controller: SimController | null = null;
afterEach(async () => {
  await controller?.stop();
  controller = null;
});

const attemptLines = (lines: LogLine[], outcome: string): LogLine[] => lines.filter((l) => l.outcome === outcome && typeof l.attemptId === 'string');

describe('log lines', () => {
  it('a failed attempt logs fleet, instance, attempt, command, exit code and the host script\'s reason', async () => {
    controller = await startSimController({
      hosts: 2, failRate: 1, syncSeconds: 60, rollout: { maxUnavailable: 1, maxAttempts: 2, maxFailures: 1 },
    });
    const c = controller;
    await c.deploy('rev-1');
    expect(await c.runUntil(() => (c.latest()?.hostCounts.failed ?? 0) >= 1, 3_600_000)).toBe(true);

    const failed = attemptLines(c.lines, 'syncFailed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const line of failed) {
      expect(line).toMatchObject({
        level: 40, fleet: FLEET, outcome: 'syncFailed', exitCode: 3, reason: 'sync failed (simulated)', revision: 'rev-1',
      });
      expect(line.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
      expect(line.attemptId).toMatch(/^a-\d+-\d+$/);
      expect(line.commandId).toMatch(/^cmd-\d+$/);
      expect(line.durationMs).toBeGreaterThanOrEqual(60_000);
      expect(line.msg).toMatch(/^sync attempt [12]\/2 at rev-1 failed \(syncFailed\): sync failed \(simulated\)$/);
    }
    // the host that used up its attempts: one more line, and its history event, with the reason
    const hostFailed = c.lines.find((l) => l.msg.startsWith('host failed'));
    expect(hostFailed).toMatchObject({ fleet: FLEET, reason: 'sync failed (simulated)', revision: 'rev-1', attempts: 2 });
    const events = await c.memory.listHistory(FLEET, { limit: 50 });
    expect(events.find((e) => e.type === 'hostFailed')).toMatchObject({
      instanceId: hostFailed?.instanceId, reason: 'sync failed (simulated)', revision: 'rev-1',
    });

    // the log and /metrics count the same attempts
    const metrics = parsePrometheusText((await c.get('/metrics')).text);
    expect(valueOf(metrics, 'fleetsync_sync_attempts_total', { fleet: FLEET, outcome: 'syncFailed' })).toBe(failed.length);
    expect(valueOf(metrics, 'fleetsync_sync_attempt_duration_seconds_count', { fleet: FLEET, outcome: 'syncFailed' })).toBe(failed.length);

    // every line about a host also names its fleet, once
    for (const line of c.lines.filter((l) => 'instanceId' in l || 'instanceIds' in l)) expect(line.fleet, line.msg).toBe(FLEET);
    for (const raw of c.raw) expect(raw.split('"fleet":').length, raw).toBeLessThanOrEqual(2);
    const sent = c.lines.find((l) => l.msg.startsWith('sync command sent'));
    expect(sent).toMatchObject({ fleet: FLEET, revision: 'rev-1' });
    expect(sent?.instanceIds).toEqual([expect.stringMatching(/^i-/)]);
    expect(sent?.commandId).toMatch(/^cmd-/);
  });

  it('an attempt that outlives syncTimeoutSeconds is logged as timedOut with its reason', async () => {
    controller = await startSimController({
      hosts: 1, syncSeconds: 300, rollout: { maxUnavailable: 1, maxAttempts: 1, syncTimeoutSeconds: 60 },
    });
    const c = controller;
    await c.deploy('rev-1');
    expect(await c.runUntil(() => (c.latest()?.hostCounts.failed ?? 0) === 1, 600_000)).toBe(true);
    const [line] = attemptLines(c.lines, 'timedOut');
    expect(line).toMatchObject({ level: 40, fleet: FLEET, reason: 'attempt timed out after 60s', revision: 'rev-1', attempt: 1 });
    expect(line?.durationMs).toBeGreaterThanOrEqual(60_000);
    expect(line?.durationMs).toBeLessThan(61_000);
    const metrics = parsePrometheusText((await c.get('/metrics')).text);
    expect(valueOf(metrics, 'fleetsync_sync_attempts_total', { fleet: FLEET, outcome: 'timedOut' })).toBe(1);
  });

  it('a successful attempt is one info line with its duration', async () => {
    controller = await startSimController({ hosts: 1, syncSeconds: 30, rollout: { maxUnavailable: 1 } });
    const c = controller;
    await c.deploy('rev-1');
    expect(await c.runUntil(() => c.latest()?.revision === 'rev-1', 600_000)).toBe(true);
    const [line, ...more] = attemptLines(c.lines, 'success');
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 30, fleet: FLEET, revision: 'rev-1', reason: null, exitCode: 0 });
    expect(line?.msg).toMatch(/^synced to rev-1 in 3\d(\.\d)?s$/);
  });
});
