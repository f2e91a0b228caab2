/**
 * Fault schedules for fast-check: a small fleet (its size, budget and sync time) and a fault plan drawn from a
 * seed, exactly as `fleetsync simulate --faults SEED` with the same flags draws it, so any generated schedule
 * replays from the command line. Shrinking works on the plan itself (fewer events, fewer faulted ports and
 * fault kinds, fewer controllers, no drain, no hook timeout, even sync times, fewer hosts), so a failure
 * shrinks to a schedule small enough to read.
 */
import fc from 'fast-check';
import { randomFaultPlan, type FaultPlan, type PortName } from '../../controller/sim/faultPlan.ts';
import { DEFAULT_LEADER_SETTINGS } from '../../controller/leader.ts';
import { resolveMaxUnavailable } from '../../state/validate.ts';

export interface FaultSchedule {
  hosts: number;
  /** a count, or a percent of the in-service hosts */
  maxUnavailable: number | string;
  syncSeconds: number;
  /** the seed the plan was drawn from; a shrunk plan no longer matches it */
  seed: number;
  plan: FaultPlan;
  shrunk: boolean;
}

const PERCENTS = ['20%', '34%', '50%'];

export function scheduleFromSeed(shape: { hosts: number; maxUnavailable: number | string; syncSeconds: number; seed: number }): FaultSchedule {
  const lowerBoundMs = Math.ceil(shape.hosts / resolveMaxUnavailable(shape.maxUnavailable, shape.hosts)) * shape.syncSeconds * 1000;
  const plan = randomFaultPlan(shape.seed, { lowerBoundMs, leaseDurationMs: DEFAULT_LEADER_SETTINGS.leaseDurationMs });
  return { ...shape, plan, shrunk: false };
}

export function replayCommand(s: FaultSchedule): string {
  return `node bin/fleetsync.js simulate --hosts ${s.hosts} --max-unavailable ${s.maxUnavailable} --sync-seconds ${s.syncSeconds} --faults ${s.seed} --output text`;
}

function* smaller(s: FaultSchedule): Generator<FaultSchedule> {
  const p = s.plan;
  const with_ = (plan: Partial<FaultPlan>, more: Partial<FaultSchedule> = {}): FaultSchedule =>
    ({ ...s, ...more, plan: { ...p, ...plan }, shrunk: true });
  if (p.events.length > 0) yield with_({ events: [] });
  for (let i = 0; i < p.events.length; i++) yield with_({ events: p.events.filter((_, j) => j !== i) });
  const ports = Object.keys(p.portFaults) as PortName[];
  if (ports.length > 0) yield with_({ portFaults: {} });
  for (const port of ports) {
    const rest = { ...p.portFaults };
    delete rest[port];
    yield with_({ portFaults: rest });
  }
  for (const port of ports) {
    const kinds = p.portFaults[port] ?? [];
    if (kinds.length < 2) continue;
    for (const kind of kinds) yield with_({ portFaults: { ...p.portFaults, [port]: kinds.filter((k) => k !== kind) } });
  }
  if (p.controllers > 1) {
    const controllers = p.controllers - 1;
    const events = p.events.map((e) => ('controller' in e ? { ...e, controller: e.controller % controllers } : e));
    yield with_({ controllers, events, ...(p.clockSkewMs ? { clockSkewMs: p.clockSkewMs.slice(0, controllers) } : {}) });
  }
  if (p.drain) yield with_({ drain: false });
  if (p.hookTimeoutMs) yield with_({ hookTimeoutMs: null });
  if (p.clockSkewMs) yield with_({ clockSkewMs: undefined });
  if (p.syncSpread > 0) yield with_({ syncSpread: 0 });
  if (p.steps) yield with_({ steps: undefined });
  if (s.hosts > 2) yield with_({}, { hosts: s.hosts - 1 });
}

class FaultScheduleArbitrary extends fc.Arbitrary<FaultSchedule> {
  generate(mrng: fc.Random): fc.Value<FaultSchedule> {
    const hosts = mrng.nextInt(3, 10);
    const maxUnavailable = mrng.nextInt(0, 9) < 7 ? mrng.nextInt(1, 3) : PERCENTS[mrng.nextInt(0, PERCENTS.length - 1)]!;
    const schedule = scheduleFromSeed({ hosts, maxUnavailable, syncSeconds: mrng.nextInt(5, 30), seed: mrng.nextInt(0, 2 ** 31 - 1) });
    return new fc.Value(schedule, undefined);
  }

  canShrinkWithoutContext(value: unknown): value is FaultSchedule {
    return typeof value === 'object' && value !== null && 'plan' in value;
  }

  shrink(value: FaultSchedule): fc.Stream<fc.Value<FaultSchedule>> {
    return new fc.Stream(smaller(value)).map((s) => new fc.Value(s, undefined));
  }
}

export const faultSchedules = (): fc.Arbitrary<FaultSchedule> => new FaultScheduleArbitrary();
