/**
 * Launching hosts under the lifecycle hook: heartbeats keep the hook from timing out into ABANDON while a long
 * sync runs or the agent is slow to register; a host whose agent never comes is abandoned, not left to hang.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../controller/sim/simulate.ts';

describe('launching hosts', () => {
  it('heartbeat their lifecycle hook while a long sync runs, then get CONTINUE at the desired revision', async () => {
    // syncs take 700 s; the controller heartbeats every 300 s, well inside a 900 s hook timeout
    const r = await simulate({ hosts: 8, syncSeconds: 700, scaleOut: 2, scaleOutAt: 0 });
    expect(r.converged).toBe(true);
    expect(r.apiCalls.byOperation.RecordLifecycleActionHeartbeat).toBeGreaterThanOrEqual(4);
    expect(r.launchedInService).toHaveLength(2);
    expect(r.launchedInService.every((h) => h.revision === 'rev-1')).toBe(true);
    expect(r.staleInService).toBe(0);
  });

  it('wait for a slow agent (heartbeating) and are synced once it registers', async () => {
    const r = await simulate({ hosts: 4, syncSeconds: 10, scaleOut: 1, scaleOutAt: 0, agentDelaySeconds: 400 });
    expect(r.converged).toBe(true);
    expect(r.apiCalls.byOperation.RecordLifecycleActionHeartbeat).toBeGreaterThanOrEqual(1);
    expect(r.convergedSeconds!).toBeGreaterThanOrEqual(400);
    expect(r.launchedInService.map((h) => h.revision)).toEqual(['rev-1']);
  });

  it('are abandoned when their agent never registers within the wait limit', async () => {
    const r = await simulate({ hosts: 4, syncSeconds: 10, scaleOut: 1, scaleOutAt: 0, agentDelaySeconds: 5_000, maxSeconds: 1_500 });
    expect(r.lifecycleAbandoned).toBe(1);
    expect(r.lifecycleCompleted).toBe(0);
    expect(r.failedHosts).toBeGreaterThanOrEqual(1);
  });
});
