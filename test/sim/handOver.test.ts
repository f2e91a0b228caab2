/**
 * A leader hands its fleet over mid-rollout (as one over its fair share of many fleets does), with drains and
 * syncs in flight: it stops acting and releases the lease; the next leader claims the fleet and goes on, with
 * every invariant holding (one command per host, the budget, fencing).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../controller/log.ts';
import { simulate } from '../../controller/sim/simulate.ts';
import type { FaultPlan } from '../../controller/sim/faultPlan.ts';

const plan = (controllers: number): FaultPlan => ({
  seed: 1, stopAtMs: 20_000, portFaultRate: 0, portFaults: {}, controllers, drain: true, syncSpread: 0,
  events: [{ kind: 'handOver', atMs: 10_000, controller: 0 }],
});

async function run(controllers: number) {
  const leases: Array<{ holder: string; token: number }> = [];
  let handedOver = 0;
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { msg: string; holder?: string; token?: number };
        if (entry.msg === 'took the fleet lease: leading') leases.push({ holder: entry.holder ?? 'sim-controller-1', token: entry.token! });
        if (entry.msg.startsWith('handing the fleet over')) handedOver += 1;
      }
      done();
    },
  });
  const result = await simulate({
    hosts: 6, maxUnavailable: 2, syncSeconds: 20, faults: 1, faultPlan: plan(controllers), log: createLogger({ level: 'info', destination }),
  });
  return { result, leases, handedOver };
}

describe('a leader hands its fleet over mid-rollout', () => {
  it('another controller takes it at once and finishes the rollout, with no violation', async () => {
    const { result, leases, handedOver } = await run(2);
    expect(result.faultsInjected).toEqual({ handOver: 1 });
    expect(handedOver).toBe(1);
    expect(result.violations).toEqual([]);
    expect(result.converged).toBe(true);
    expect(result.duplicateSends).toBe(0);
    expect(leases).toEqual([
      { holder: 'sim-controller-1', token: 1 }, { holder: 'sim-controller-2', token: 2 },
    ]);
  });

  it('alone, the controller takes it back (after leaving it a lease) and converges', async () => {
    const { result, leases, handedOver } = await run(1);
    expect(handedOver).toBe(1);
    expect(result.violations).toEqual([]);
    expect(result.converged).toBe(true);
    expect(leases).toEqual([
      { holder: 'sim-controller-1', token: 1 }, { holder: 'sim-controller-1', token: 2 },
    ]);
  });
});
