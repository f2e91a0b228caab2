/** The simulated launch hook times out like the group's (issue 13): abandoned and replaced unless heartbeaten. */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { SimWorld } from '../../controller/sim/simWorld.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';

const REF = { autoScalingGroupName: 'asg', lifecycleHookName: 'hook' };

function world(hookTimeoutMs: number | null) {
  const clock = new VirtualClock(0);
  const w = new SimWorld({
    clock, random: seededRandom(1), throttleRate: 0, lifecycleHook: true, agentDelayMs: 0, imageRevision: 'rev-0', hookTimeoutMs,
  });
  return { clock, world: w, fleet: new SimFleet(w) };
}

describe('simulated launch hook timeout', () => {
  it('abandons and replaces a launching host nobody heartbeats, and keeps one that is heartbeaten', async () => {
    const t = world(30_000);
    const [quiet, kept] = t.world.launch(2);
    await expect(t.fleet.heartbeatTimeoutMs!(REF)).resolves.toBe(30_000);
    await t.clock.run({ untilMs: 20_000 });
    await t.fleet.heartbeat({ ref: REF, instanceId: kept! });
    await t.clock.run({ untilMs: 30_000 });
    expect(t.world.expireHooks()).toBe(1);
    expect(t.world.instances.has(quiet!)).toBe(false);
    expect(t.world.instances.get(kept!)?.lifecycleState).toBe('Pending:Wait');
    expect(t.world.completions).toEqual([expect.objectContaining({ instanceId: quiet, result: 'ABANDON' })]);
    expect(t.world.live()).toHaveLength(2);
    await t.clock.run({ untilMs: 50_000 });
    expect(t.world.expireHooks()).toBe(1);
    expect(t.world.instances.has(kept!)).toBe(false);
  });

  it('without a hook timeout nothing expires and the port does not offer one', async () => {
    const t = world(null);
    t.world.launch(1);
    await t.clock.run({ untilMs: 3_600_000 });
    expect(t.world.expireHooks()).toBe(0);
    expect(t.fleet.heartbeatTimeoutMs).toBeUndefined();
  });
});
