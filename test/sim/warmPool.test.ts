/**
 * Warm pools in the simulator: the group keeps instances stopped in a warm pool, each synced as it launches into
 * the pool (Warmed:Pending:Wait) and again when a scale-out draws it into service (Pending:Wait), to whatever is
 * desired by then. Stopped instances get no command and take no share of maxUnavailable.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../controller/sim/simulate.ts';
import { run } from '../cli/cliHarness.ts';

describe('a warm pool in the simulator', () => {
  it('syncs an instance into the pool, lets it sleep through two deploys, and syncs it to the newest when drawn', async () => {
    // rev-0 at the start; rev-1 deployed at t0 and rev-2 at 60 s, both while it sleeps; drawn at 200 s
    const r = await simulate({ hosts: 4, syncSeconds: 20, warmPool: 1, bumpAt: 60, scaleOut: 1, scaleOutAt: 200 });
    expect(r.converged).toBe(true);
    expect(r.finalRevision).toBe('rev-2');
    const [first, refill] = r.warmPool!.journeys;
    expect(first!.steps).toEqual([
      'Warmed:Pending:Wait', 'synced rev-0', 'CONTINUE', 'Warmed:Stopped',
      'Pending:Wait', 'synced rev-2', 'CONTINUE', 'InService',
    ]);
    // the scale-out took it rather than launching a new one, and the group refilled the pool at what is desired now
    expect(r.warmPool!.drawn).toBe(1);
    expect(r.launchedInService).toEqual([{ instanceId: first!.instanceId, revision: 'rev-2' }]);
    expect(refill!.steps).toEqual(['Warmed:Pending:Wait', 'synced rev-2', 'CONTINUE', 'Warmed:Stopped']);
    expect(r.warmPool!.asleep).toEqual([{ instanceId: refill!.instanceId, revision: 'rev-2' }]);
    expect(r.finalStatus.hostCounts).toMatchObject({ total: 5, inSync: 5, warm: 1 });
    expect(r.staleInService).toBe(0);
    expect(r.violations).toEqual([]);
  });

  it('sends nothing to stopped instances and leaves them out of maxUnavailable', async () => {
    const base = { hosts: 8, maxUnavailable: '25%', syncSeconds: 30 } as const;
    const without = await simulate(base);
    const withPool = await simulate({ ...base, warmPool: 8 });
    expect(withPool.converged).toBe(true);
    // 25% of the 8 in service, not of 16: the pool adds no budget and takes none
    expect(withPool.maxUnavailableAllowed).toBe(2);
    expect(withPool.maxUnavailableObserved).toBe(2);
    expect(withPool.lowerBoundSeconds).toBe(without.lowerBoundSeconds);
    // the same waves as without a pool (a second or so apart: the start settles differently)
    expect(Math.abs(withPool.convergedSeconds! - without.convergedSeconds!)).toBeLessThanOrEqual(5);
    // the whole pool slept through the deploy at the revision it launched with, and no command reached it
    expect(withPool.warmPool!.asleep).toHaveLength(8);
    expect(withPool.warmPool!.asleep.every((h) => h.revision === 'rev-0')).toBe(true);
    expect(withPool.warmPool!.commandsToAsleep).toBe(0);
    expect(withPool.finalStatus.hostCounts).toMatchObject({ total: 8, inSync: 8, warm: 8 });
    expect(withPool.violations).toEqual([]);
  });

  it('a scale-out larger than the pool takes the pool, launches the rest, and refills it', async () => {
    const r = await simulate({ hosts: 6, syncSeconds: 20, warmPool: 2, scaleOut: 5, scaleOutAt: 10 });
    expect(r.converged).toBe(true);
    expect(r.warmPool!.drawn).toBe(2);
    expect(r.launchedInService).toHaveLength(5);
    expect(r.launchedInService.every((h) => h.revision === 'rev-1')).toBe(true);
    expect(r.warmPool!.asleep).toHaveLength(2);
    expect(r.finalStatus.hostCounts).toMatchObject({ total: 11, inSync: 11, warm: 2 });
    expect(r.violations).toEqual([]);
  });

  it('keeps every invariant under random fault plans, scale-outs drawing from the pool included', async () => {
    let drawn = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const o = { hosts: 3 + (seed % 6), maxUnavailable: 1 + (seed % 2), syncSeconds: 5 + (seed % 20), faults: seed, warmPool: 1 + (seed % 3) };
      const r = await simulate(o);
      drawn += r.warmPool!.drawn;
      if (!r.converged || r.violations.length > 0 || r.warmPool!.commandsToAsleep > 0) {
        failures.push(`fleetsync simulate --hosts ${o.hosts} --max-unavailable ${o.maxUnavailable} --sync-seconds ${o.syncSeconds} `
          + `--faults ${seed} --warm-pool ${o.warmPool}: ${JSON.stringify(r.violations.slice(0, 2))}`);
      }
    }
    expect(failures).toEqual([]);
    // the plans' scale-outs did take instances from the pool
    expect(drawn).toBeGreaterThan(0);
  });

  it('simulate --warm-pool runs from the CLI, and the same seed gives the same JSON', async () => {
    const argv = ['simulate', '--hosts', '6', '--sync-seconds', '20', '--warm-pool', '2', '--scale-out', '1', '--scale-out-at', '30', '--seed', '9'];
    const a = await run(argv);
    const b = await run(argv);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const r = JSON.parse(a.stdout) as Awaited<ReturnType<typeof simulate>>;
    expect(r.settings.warmPool).toBe(2);
    expect(r.warmPool!.drawn).toBe(1);
    expect(r.warmPool!.commandsToAsleep).toBe(0);
    const text = await run([...argv, '--output', 'text']);
    expect(text.stdout).toMatch(/warm pool: 1 drawn by the scale-out, 2 asleep at the end; commands sent to stopped instances: 0/);
  });

  it('refuses a warm pool size that is not a whole number', async () => {
    const r = await run(['simulate', '--warm-pool', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--warm-pool.*whole number/);
  });
});
