/**
 * Many fleets on several controllers (issue 15): leases spread within ±10% of even, a killed controller's fleets
 * are taken over within lease + one resync, a joining controller gets its share, a fleet that does not converge
 * makes the run say so, and a seed replays byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { simulateFleets } from '../../controller/sim/simulateFleets.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';

function expectEvenSpread(leases: Record<string, number>, fleets: number, controllers: number): void {
  expect(Object.keys(leases)).toHaveLength(controllers);
  const even = fleets / controllers;
  for (const [controller, n] of Object.entries(leases)) {
    expect(Math.abs(n - even), `${controller} leads ${n} of ${fleets} (even: ${even})`).toBeLessThanOrEqual(even * 0.1);
  }
  expect(Object.values(leases).reduce((a, b) => a + b, 0)).toBe(fleets);
}

describe('many fleets on several controllers', () => {
  it('spreads 20 fleets over 4 controllers within ±10% of even, all led within one retry period, all converged', async () => {
    const r = await simulateFleets({ fleets: 20, hosts: 8, controllers: 4, syncSeconds: 30 });
    expect(r.converged).toBe(true);
    expect(r.convergedFleets).toBe(20);
    expectEvenSpread(r.leasesPerController, 20, 4);
    // taken as fast as the share allows, not one per retry period (the 20th would wait 20 x 2 s)
    expect(r.allLedSeconds).not.toBeNull();
    expect(r.allLedSeconds!).toBeLessThanOrEqual(DEFAULT_LEADER_SETTINGS.retryPeriodMs / 1000);
    expect(r.duplicateSends).toBe(0);
    expect(r.maxInFlightPerHost).toBe(1);
  });

  it("takes a killed controller's fleets over within lease + one resync, and spreads them over the others", async () => {
    const resyncSeconds = 30;
    const r = await simulateFleets({ fleets: 12, hosts: 8, controllers: 4, syncSeconds: 30, resyncSeconds, killControllerAt: 40 });
    expect(r.converged).toBe(true);
    expect(r.kill?.fleetsLed).toBe(3);
    expect(r.kill?.takeoverSeconds).not.toBeNull();
    expect(r.kill!.takeoverSeconds!).toBeLessThanOrEqual(DEFAULT_LEADER_SETTINGS.leaseDurationMs / 1000 + resyncSeconds);
    expect(r.leasesPerController).not.toHaveProperty(r.kill!.controller);
    expectEvenSpread(r.leasesPerController, 12, 3);
    expect(r.duplicateSends).toBe(0);
  });

  it('gives a controller that joins later its share: the others hand their extra fleets over', async () => {
    const r = await simulateFleets({ fleets: 20, hosts: 4, controllers: 3, syncSeconds: 30, addControllerAt: 60 });
    expect(r.converged).toBe(true);
    expectEvenSpread(r.leasesPerController, 20, 4);
  });

  it('ends within one fleet of even when the fleets do not divide evenly', async () => {
    const r = await simulateFleets({ fleets: 21, hosts: 4, controllers: 4, syncSeconds: 30, maxSeconds: 600 });
    const counts = Object.values(r.leasesPerController);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(21);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('is not converged while one fleet does not converge, and names it', async () => {
    const r = await simulateFleets({ fleets: 4, hosts: 4, controllers: 2, syncSeconds: 30, brokenFleets: 1, maxSeconds: 900 });
    expect(r.converged).toBe(false);
    expect(r.convergedSeconds).toBeNull();
    expect(r.convergedFleets).toBe(3);
    expect(r.notConverged).toEqual(['fleet-3']);
  });

  it('replays a seed byte for byte, and another seed differs', async () => {
    const options = { fleets: 6, hosts: 6, controllers: 3, syncSeconds: 30, failRate: 0.2, killControllerAt: 50, seed: 7 };
    const a = JSON.stringify(await simulateFleets(options));
    const b = JSON.stringify(await simulateFleets(options));
    expect(a).toBe(b);
    expect(JSON.stringify(await simulateFleets({ ...options, seed: 8 }))).not.toBe(a);
  });
});
