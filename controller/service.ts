/**
 * `fleetsync controller`: opens the runtime the configuration asks for, serves HTTP, and runs the manager
 * until the signal aborts (Ctrl-C, SIGTERM from ECS).
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { holderName } from './holderName.ts';
import type { ControllerConfig } from './config.ts';
import type { Clock, Random } from './ports/clock.ts';
import type { Logger } from './log.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { Manager } from './manager.ts';
import { DEFAULT_SETTINGS } from './reconciler/settings.ts';
import { startHttpServer } from './http.ts';
import { Metrics } from './metrics.ts';
import { EmfPublisher } from './emf.ts';
import { combineObservers } from './reconciler/observer.ts';

export interface ServiceOptions {
  config: ControllerConfig;
  clock: Clock;
  random: Random;
  log: Logger;
  cwd: string;
  /** where to tell the operator what was chosen (stderr) */
  say: (line: string) => void;
  signal: AbortSignal;
}

export async function runService(o: ServiceOptions): Promise<void> {
  const { config, clock, log } = o;
  const metrics = new Metrics({ clock });
  const runtime: Runtime = await openRuntime({ config, clock, log, cwd: o.cwd, onCall: metrics.onCall });
  try {
    // CloudWatch reads EMF lines from the task's log stream: in AWS mode only.
    const emf = runtime.mode === 'aws' ? new EmfPublisher({ log, clock, store: runtime.store, metrics }) : null;
    const holder = holderName({ hostname: os.hostname(), pid: process.pid, nonce: randomUUID().slice(0, 8) });
    const manager = new Manager({
      store: runtime.store, fleetPort: runtime.fleetPort, commands: runtime.commands, traffic: runtime.traffic,
      artifacts: runtime.artifacts, launchEvents: runtime.launchEvents, clock, random: o.random, holder, log,
      settings: {
        ...DEFAULT_SETTINGS, resyncMs: config.resyncSeconds * 1000,
        pollMs: (config.pollSeconds ?? (runtime.mode === 'embedded' ? 1 : 5)) * 1000, workers: config.concurrency,
      },
      leader: {
        leaseDurationMs: config.leaseDurationSeconds * 1000, renewDeadlineMs: config.renewDeadlineSeconds * 1000,
        retryPeriodMs: config.retryPeriodSeconds * 1000,
      },
      fleetScanMs: Math.min(10_000, config.resyncSeconds * 1000),
      fleets: config.fleets,
      observer: emf ? combineObservers(metrics.observer, emf.observer) : metrics.observer,
    });
    metrics.watchLeases(manager);
    const http = await startHttpServer({
      host: config.httpHost ?? (runtime.mode === 'embedded' ? '127.0.0.1' : '0.0.0.0'), port: config.httpPort,
      store: runtime.store, health: manager, registry: metrics.registry, clock, stuckAfterMs: config.stuckAfterSeconds * 1000, log,
      cliPrefix: runtime.mode === 'embedded' ? 'npx fleetsync' : `fleetsync --table ${config.table}`,
    });
    try {
      await runtime.announce(http.url);
      for (const line of runtime.describe) o.say(line);
      o.say(`dashboard: ${http.url}/ (read-only, live)`);
      o.say(`HTTP: ${http.url}/healthz /readyz /metrics /status`);
      o.say(`controller ${holder} running; Ctrl-C stops it`);
      log.info({ mode: runtime.mode, holder, http: http.url }, 'controller started');
      await Promise.all([manager.run(o.signal), emf?.run(o.signal)]);
    } finally {
      await http.close();
    }
  } finally {
    await runtime.close();
    log.info('controller stopped');
  }
}
