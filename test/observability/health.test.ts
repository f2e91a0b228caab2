/**
 * /healthz (the loop turns) and /readyz (the store answers; leader or ready standby) against the controller
 * over the simulator, with a store that can be made to reject or hang.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Manager } from '../../controller/manager.ts';
import { Metrics } from '../../controller/metrics.ts';
import { startHttpServer } from '../../controller/http.ts';
import { silentLogger } from '../../controller/log.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { SimFleet } from '../../controller/sim/simFleet.ts';
import { SimCommands } from '../../controller/sim/simCommands.ts';
import { SimTraffic } from '../../controller/sim/simTraffic.ts';
import { seededRandom } from '../../controller/sim/random.ts';
import { FaultyStore, FLEET, startSimController, type SimController } from './simController.ts';

let controller: SimController | null = null;
afterEach(async () => {
  await controller?.stop();
  controller = null;
});

const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

describe('/healthz and /readyz', () => {
  it('answer 200 while the leader runs; /readyz says it leads', async () => {
    controller = await startSimController({ hosts: 3 });
    const health = await controller.get('/healthz');
    expect(health.status).toBe(200);
    expect(json(health.text)).toMatchObject({ status: 'ok' });
    const ready = await controller.get('/readyz');
    expect(ready.status).toBe(200);
    expect(json(ready.text)).toEqual({ status: 'ready', role: 'leader', leading: [FLEET] });
  });

  it('/readyz answers 200 for a standby that leads nothing, 503 once the store rejects, 200 again after', async () => {
    controller = await startSimController({ hosts: 3 });
    // a second controller over the same store: the lease is taken, so it stands by
    const standby = new Manager({
      store: controller.faults.store, fleetPort: new SimFleet(controller.world),
      commands: new SimCommands(controller.world, { syncMs: 60_000, probeMs: 2_000, failRate: 0 }),
      traffic: new SimTraffic(controller.world), clock: controller.clock, random: seededRandom(9), holder: 'standby',
      settings: DEFAULT_SETTINGS, leader: DEFAULT_LEADER_SETTINGS, fleetScanMs: 10_000, log: silentLogger,
    });
    const abort = new AbortController();
    const running = standby.run(abort.signal);
    const http = await startHttpServer({
      host: '127.0.0.1', port: 0, store: controller.faults.store, health: standby, registry: new Metrics({ clock: controller.clock }).registry,
      clock: controller.clock, stuckAfterMs: 60_000, log: silentLogger,
    });
    try {
      await controller.advance(30_000);
      const ready = await fetch(`${http.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', role: 'standby', leading: [] });

      controller.faults.mode = 'reject';
      for (const url of [`${http.url}/readyz`, `${controller.http.url}/readyz`]) {
        const down = await fetch(url);
        expect(down.status).toBe(503);
        const body = await down.json() as { status: string; error: string };
        expect(body.status).toBe('unready');
        expect(body.error).toMatch(/^store unreachable: store unreachable \(test\)/);
      }
      // liveness is about the loop, not the store: a DynamoDB outage must not make ECS restart every task
      await controller.advance(30_000);
      expect((await controller.get('/healthz')).status).toBe(200);
      expect((await controller.get('/status')).status).toBe(503);

      controller.faults.mode = 'ok';
      expect((await controller.get('/readyz')).status).toBe(200);
    } finally {
      abort.abort();
      controller.faults.heal();
      let stopped = false;
      const done = running.then(() => { stopped = true; });
      await controller.clock.run({ untilMs: controller.clock.nowMs() + 60_000, done: () => stopped });
      await done;
      await http.close();
    }
  });

  it('/healthz answers 503 once the loop has been stuck longer than stuckAfterMs, 200 when it turns again', async () => {
    controller = await startSimController({ hosts: 2, stuckAfterMs: 60_000 });
    const turnedAt = controller.manager.lastLoop();
    controller.faults.mode = 'hang';
    // the next fleet scan waits on the store for ever: the loop stops turning
    await controller.advance(50_000);
    expect((await controller.get('/healthz')).status).toBe(200);
    await controller.advance(30_000);
    expect(controller.manager.lastLoop()).toBeLessThanOrEqual(turnedAt + 10_000);
    const stuck = await controller.get('/healthz');
    expect(stuck.status).toBe(503);
    const body = json(stuck.text);
    expect(body.status).toBe('stuck');
    expect(body.error).toMatch(/the control loop has not turned for \d+s/);

    controller.faults.heal(); // the hung call fails, the loop goes on
    await controller.advance(10_000);
    expect((await controller.get('/healthz')).status).toBe(200);
  });

  it('/readyz answers 503 within its timeout when the store does not answer at all', async () => {
    const faults = new FaultyStore(new MemoryStore());
    faults.mode = 'hang';
    const http = await startHttpServer({
      host: '127.0.0.1', port: 0, store: faults.store, health: { lastLoop: () => realClock.nowMs(), leases: () => [] },
      registry: new Metrics({ clock: realClock }).registry, clock: realClock, stuckAfterMs: 60_000, storeTimeoutMs: 150,
      log: silentLogger,
    });
    try {
      const started = Date.now();
      const response = await fetch(`${http.url}/readyz`);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: string }).error).toBe('store unreachable: the store did not answer within 150 ms');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await fetch(`${http.url}/healthz`)).status).toBe(200);
    } finally {
      faults.heal();
      await http.close();
    }
  });
});
