/** A controller cut off from the store (issue 13's fault world): it must stop acting, another takes over. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../controller/log.ts';
import { simulate } from '../../controller/sim/simulate.ts';
import type { FaultPlan } from '../../controller/sim/faultPlan.ts';

const plan = (controllers: number): FaultPlan => ({
  seed: 1, stopAtMs: 20_000, portFaultRate: 0, portFaults: {}, controllers, drain: false, syncSpread: 0,
  events: [{ kind: 'partition', atMs: 5_000, controller: 0, forMs: 45_000 }],
});

async function run(controllers: number) {
  const leases: Array<{ holder: string; token: number }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { msg: string; holder?: string; token?: number };
        if (entry.msg === 'took the fleet lease: leading') leases.push({ holder: entry.holder ?? 'sim-controller-1', token: entry.token! });
      }
      done();
    },
  });
  const result = await simulate({
    hosts: 6, maxUnavailable: 2, syncSeconds: 20, faults: 1, faultPlan: plan(controllers), log: createLogger({ level: 'info', destination }),
  });
  return { result, leases };
}

describe('partition between the leader and the store', () => {
  it('the cut-off leader stops acting and the other controller takes over, with no violation', async () => {
    const { result, leases } = await run(2);
    expect(result.faultsInjected).toEqual({ partition: 1 });
    expect(result.violations).toEqual([]);
    expect(result.converged).toBe(true);
    expect(leases).toEqual([{ holder: 'sim-controller-1', token: 1 }, { holder: 'sim-controller-2', token: 2 }]);
  });

  it('alone, the controller leads again once the partition heals, and converges', async () => {
    const { result, leases } = await run(1);
    expect(result.violations).toEqual([]);
    expect(result.converged).toBe(true);
    expect(leases).toEqual([{ holder: 'sim-controller-1', token: 1 }, { holder: 'sim-controller-1', token: 2 }]);
  });
});
