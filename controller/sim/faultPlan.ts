/**
 * A fault plan: what goes wrong during one simulated rollout. Port faults make any call of the sim adapters
 * fail; world events change the group, the hosts, the controllers and the spec. Every plan is drawn from a
 * seed (`randomFaultPlan`), so `fleetsync simulate --faults SEED` replays it, and is plain data, so a property
 * test can shrink it and print the smaller plan.
 */
import { seededRandom } from './random.ts';
import type { RolloutStep } from '../../state/spec.ts';

export const PORTS = ['fleet', 'traffic', 'commands', 'artifacts', 'store'] as const;
export type PortName = (typeof PORTS)[number];

/**
 * throttled: the SDK's retries ran out; error: a 5xx or a dropped connection, nothing happened; timeout: the
 * caller gave up after a while, and the call may or may not have taken effect; ambiguous: the call took effect
 * but the caller saw an error (a SendCommand that ran, a PutItem that was written).
 */
export const PORT_FAULT_KINDS = ['throttled', 'error', 'timeout', 'ambiguous'] as const;
export type PortFaultKind = (typeof PORT_FAULT_KINDS)[number];

/** `host` picks among the in-service hosts at the event's time (index modulo their count, sorted by id). */
export type WorldEvent =
  | { kind: 'terminate'; atMs: number; host: number }
  | { kind: 'scaleOut'; atMs: number; count: number }
  | { kind: 'scaleIn'; atMs: number; count: number }
  | { kind: 'agentOffline'; atMs: number; host: number; forMs: number }
  | { kind: 'syncHang'; atMs: number; host: number }
  | { kind: 'slowCheck'; atMs: number; host: number; extraMs: number }
  | { kind: 'failingCheck'; atMs: number; host: number }
  | { kind: 'crash'; atMs: number; controller: number }
  | { kind: 'zombie'; atMs: number; controller: number; forMs: number }
  /** the controller runs on but cannot reach the store (its other ports still answer) */
  | { kind: 'partition'; atMs: number; controller: number; forMs: number }
  /**
   * the controller hands the fleet over mid-rollout, as one over its fair share of many fleets does: it stops
   * acting, releases the lease, another takes it at once (or, alone, it takes it back after a lease)
   */
  | { kind: 'handOver'; atMs: number; controller: number }
  | { kind: 'bump'; atMs: number }
  | { kind: 'pause'; atMs: number; forMs: number }
  | { kind: 'retry'; atMs: number; host: number }
  /** the operator promotes the stepped rollout's current step (`fleetsync promote`) */
  | { kind: 'promote'; atMs: number }
  | { kind: 'malformedSpec'; atMs: number; forMs: number };
export type WorldEventKind = WorldEvent['kind'];

export interface FaultPlan {
  /** seeds the per-call fault draws */
  seed: number;
  /** after the deploy: no port fault and no new event from here on */
  stopAtMs: number;
  /** probability that one call of a faulted port fails */
  portFaultRate: number;
  /** the fault kinds each faulted port suffers */
  portFaults: Partial<Record<PortName, PortFaultKind[]>>;
  /** controllers on one store from the start (each restarts after a crash) */
  controllers: number;
  /** rollout.drain with a target group */
  drain: boolean;
  /** per-host sync times vary by this share around the base (0.5: from 0.75x to 1.25x) */
  syncSpread: number;
  /** the launch hook's HeartbeatTimeout (the stack allows 30 s and up); absent or null: hooks never time out */
  hookTimeoutMs?: number | null;
  /**
   * How far each controller slot's clock is off true time (ms, within +-MAX_SKEW_MS: lease expiry is judged on
   * the clocks of the controllers, so the design needs them within a few seconds); absent: all exact.
   */
  clockSkewMs?: number[];
  /** the fleet rolls out in these steps (rollout.steps); absent: all at once */
  steps?: RolloutStep[];
  events: WorldEvent[];
}

const STEP_SHAPES: ReadonlyArray<RolloutStep[]> = [
  [{ hosts: 1 }],
  [{ hosts: 1 }, { hosts: '50%' }],
  [{ hosts: '34%' }, { hosts: '67%' }],
  [{ hosts: 1, pauseSeconds: 20 }, { hosts: '50%' }],
  [{ hosts: '34%', pauseSeconds: 40 }, { hosts: '67%', pauseSeconds: 10 }],
  [{ hosts: 2 }, { hosts: '100%' }],
];

const EVENT_WEIGHTS: ReadonlyArray<[WorldEventKind, number]> = [
  ['crash', 3], ['zombie', 2], ['terminate', 2], ['scaleOut', 1], ['scaleIn', 1], ['agentOffline', 1.5],
  ['syncHang', 1.5], ['slowCheck', 1], ['failingCheck', 1.5], ['bump', 1.5], ['pause', 1], ['retry', 1],
  ['malformedSpec', 1],
];

/** Clock skew between controllers that leases tolerate: lease duration - renew deadline is 5 s by default. */
export const MAX_SKEW_MS = 2_000;

/** The longest a zombie sleeps past its lease: the convergence bound counts from its waking. */
export const ZOMBIE_EXTRA_MS = 30_000;

export function randomFaultPlan(seed: number, shape: { lowerBoundMs: number; leaseDurationMs: number }): FaultPlan {
  const r = seededRandom(seed ^ 0x2f6b_a1c3);
  const int = (min: number, max: number): number => min + Math.floor(r() * (max - min + 1));
  const stopAtMs = Math.max(1_000, Math.round(shape.lowerBoundMs * (0.1 + 0.4 * r())));
  const portFaults: FaultPlan['portFaults'] = {};
  for (const port of PORTS) {
    if (r() >= 0.6) continue;
    const kinds = PORT_FAULT_KINDS.filter(() => r() < 0.6);
    portFaults[port] = kinds.length > 0 ? kinds : [PORT_FAULT_KINDS[int(0, PORT_FAULT_KINDS.length - 1)]!];
  }
  const portFaultRate = Math.round((0.02 + 0.23 * r()) * 1000) / 1000;
  const controllers = r() < 0.5 ? 1 : r() < 0.6 ? 2 : 3;
  const drain = r() < 0.4;
  const syncSpread = r() < 0.4 ? 0 : Math.round(r() * 80) / 100;
  const totalWeight = EVENT_WEIGHTS.reduce((a, [, w]) => a + w, 0);
  const events: WorldEvent[] = [];
  let bumps = 0;
  for (let i = int(0, 8); i > 0; i--) {
    let pick = r() * totalWeight;
    const kind = EVENT_WEIGHTS.find(([, w]) => (pick -= w) < 0)?.[0] ?? 'crash';
    const atMs = int(0, stopAtMs - 1);
    const host = int(0, 999);
    switch (kind) {
      case 'terminate': case 'syncHang': case 'failingCheck': case 'retry':
        events.push({ kind, atMs, host });
        break;
      case 'scaleOut': case 'scaleIn':
        events.push({ kind, atMs, count: int(1, 3) });
        break;
      case 'agentOffline':
        events.push({ kind, atMs, host, forMs: int(5_000, 90_000) });
        break;
      case 'slowCheck':
        events.push({ kind, atMs, host, extraMs: int(1_000, 60_000) });
        break;
      case 'crash':
        events.push({ kind, atMs, controller: int(0, controllers - 1) });
        break;
      case 'zombie':
        events.push({ kind, atMs, controller: int(0, controllers - 1), forMs: shape.leaseDurationMs + int(1_000, ZOMBIE_EXTRA_MS) });
        break;
      case 'bump':
        if (bumps++ < 2) events.push({ kind, atMs });
        break;
      case 'pause':
        events.push({ kind, atMs, forMs: int(2_000, 60_000) });
        break;
      case 'malformedSpec':
        events.push({ kind, atMs, forMs: int(2_000, 30_000) });
        break;
    }
  }
  // Their own streams, so adding them left every other draw of a seed as it was.
  const h = seededRandom(seed ^ 0x4c1d_7e55);
  const hookTimeoutMs = h() < 0.5 ? null : 30_000 + Math.floor(h() * 270) * 1_000;
  const p = seededRandom(seed ^ 0x7a3b_19d1);
  if (p() < 0.3) {
    events.push({
      kind: 'partition', atMs: Math.floor(p() * stopAtMs), controller: Math.floor(p() * controllers), forMs: 5_000 + Math.floor(p() * 40) * 1_000,
    });
  }
  const o = seededRandom(seed ^ 0x5e11_0a7e);
  if (o() < 0.3) events.push({ kind: 'handOver', atMs: Math.floor(o() * stopAtMs), controller: Math.floor(o() * controllers) });
  events.sort((a, b) => a.atMs - b.atMs);
  const k = seededRandom(seed ^ 0x1f2e_3d4c);
  const clockSkewMs = k() < 0.4 ? Array.from({ length: controllers }, () => Math.round((k() * 2 - 1) * MAX_SKEW_MS)) : undefined;
  const st = seededRandom(seed ^ 0x51e7_0b2a);
  const steps = st() < 0.4 ? STEP_SHAPES[Math.floor(st() * STEP_SHAPES.length)] : undefined;
  if (steps?.some((step) => (step.pauseSeconds ?? 0) > 0) && st() < 0.6) {
    events.push({ kind: 'promote', atMs: Math.floor(st() * stopAtMs) });
    events.sort((a, b) => a.atMs - b.atMs);
  }
  return {
    seed, stopAtMs, portFaultRate, portFaults, controllers, drain, syncSpread, hookTimeoutMs,
    ...(clockSkewMs ? { clockSkewMs } : {}), ...(steps ? { steps: steps.map((s) => ({ ...s })) } : {}), events,
  };
}

/** When the last fault ends: port faults stop at stopAtMs, but a pause, a zombie or an outage may outlast it. */
export function quietAtMs(plan: FaultPlan): number {
  let quiet = plan.stopAtMs;
  for (const e of plan.events) {
    const lasts = 'forMs' in e ? e.forMs : 0;
    quiet = Math.max(quiet, e.atMs + lasts);
  }
  return quiet;
}
