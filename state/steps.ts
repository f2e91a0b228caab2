/**
 * Stepped rollouts: the rollout goes through cumulative shares of the fleet, each one in sync (and, with a
 * check, healthy: a host is in sync only once its check passed) before the next starts, with an optional pause
 * between. Pure: the reconciler gives the hosts, the time and the step it stored, and gets back the step now,
 * how many more in-service hosts may be granted, and what happened (for history).
 */
import type { HostState } from './host.ts';
import type { Promotion, RolloutStep, StepRecord } from './spec.ts';

/** an attempt at a revision is under way (or waits to retry) on a host in one of these */
const IN_FLIGHT: ReadonlySet<HostState> = new Set([
  'draining', 'syncing', 'verifying', 'restoring', 'attemptFailed', 'cancelling', 'backoff',
]);

const PERCENT = /^(\d{1,3}(?:\.\d{1,2})?)%$/;

/** A step's cumulative hosts for a fleet of `base` in-service hosts: a percent rounds up, so a step is never empty. */
export function resolveStepHosts(hosts: number | string, base: number): number {
  if (base <= 0) return 0;
  if (typeof hosts === 'number') return Math.min(hosts, base);
  const percent = PERCENT.exec(hosts);
  if (!percent) return Math.min(Number(hosts), base);
  // hundredths of a percent, in integers: 10% of 400 is 40 exactly, not 40.000000001
  const hundredths = Math.round(Number(percent[1]) * 100);
  return Math.min(base, Math.max(1, Math.ceil((hundredths * base) / 10_000)));
}

/**
 * Every step's cumulative hosts, the final "rest of the fleet" step included (it is added unless the last
 * given step already covers the whole fleet). Never decreasing, whatever mix of counts and percents was given.
 */
export function stepTargets(steps: readonly RolloutStep[], base: number): number[] {
  if (base <= 0) return [0];
  const targets: number[] = [];
  for (const step of steps) targets.push(Math.max(targets.at(-1) ?? 0, resolveStepHosts(step.hosts, base)));
  if (targets.length === 0 || (targets.at(-1) ?? 0) < base) targets.push(base);
  return targets;
}

export interface StepHost {
  state: HostState;
  /** launching hosts are synced on launch, outside the steps */
  launching: boolean;
  reportedRevision: string | null;
  targetRevision: string | null;
  failedRevision: string | null;
  /** granted a slot it has not taken yet */
  granted: boolean;
}

export interface StepInput {
  steps: readonly RolloutStep[];
  /** in-service hosts when the rollout started: the base of the shares */
  inServiceAtStart: number;
  /** the step stored with the rollout, if it started one */
  record: StepRecord | undefined;
  desiredRevision: string;
  hosts: readonly StepHost[];
  nowMs: number;
  promote?: Promotion | undefined;
  /** halted or paused by the operator: no step ends or starts */
  hold: boolean;
}

export type StepEvent =
  | { type: 'stepStarted'; index: number; count: number; hosts: number }
  | { type: 'stepFinished'; index: number; count: number; hosts: number; durationMs: number; failed: number }
  | { type: 'stepPaused'; index: number; count: number; untilMs: number }
  | { type: 'stepPromoted'; index: number; count: number };

export interface StepPlan {
  record: StepRecord;
  /** in-service hosts that may still be granted a sync at the desired revision in this step */
  allowance: number;
  /** the pause ends then: look again at that time */
  wakeAtMs: number | null;
  events: StepEvent[];
}

interface Tally {
  /** in-service hosts at (or on their way to, or failed at) the desired revision */
  exposed: number;
  /** of those, the ones settled: in sync at it, or failed at it */
  settled: number;
  failed: number;
  /** in-service hosts live now: the final step's share */
  inService: number;
}

function tally(hosts: readonly StepHost[], desired: string): Tally {
  const t: Tally = { exposed: 0, settled: 0, failed: 0, inService: 0 };
  for (const h of hosts) {
    if (h.launching || h.state === 'gone') continue;
    t.inService += 1;
    const inSync = h.state === 'inSync' && h.reportedRevision === desired;
    const failed = h.state === 'failed' && h.failedRevision === desired;
    const moving = h.granted || (IN_FLIGHT.has(h.state) && h.targetRevision === desired);
    if (inSync || failed) t.settled += 1;
    if (failed) t.failed += 1;
    if (inSync || failed || moving) t.exposed += 1;
  }
  return t;
}

/** The step now and what it allows; ends, pauses and starts steps as the hosts allow. */
export function planSteps(input: StepInput): StepPlan {
  const targets = stepTargets(input.steps, input.inServiceAtStart);
  const count = targets.length;
  const last = count - 1;
  const t = tally(input.hosts, input.desiredRevision);
  // The share of a step is of the fleet at the start, but hosts may have gone since: never more than there are.
  const targetOf = (index: number): number => (index >= last ? t.inService : Math.min(targets[index]!, t.inService));
  const events: StepEvent[] = [];
  const start = (index: number): StepRecord => {
    const record: StepRecord = { index, count, hosts: index >= last ? t.inService : targets[index]!, startedAtMs: input.nowMs };
    events.push({ type: 'stepStarted', index, count, hosts: record.hosts });
    return record;
  };
  // The spec's steps may have been edited mid-rollout: the step stored is kept within the new list.
  let record: StepRecord = input.record
    ? { ...input.record, index: Math.min(input.record.index, last), count }
    : start(0);
  let wakeAtMs: number | null = null;
  while (record.index < last && !input.hold) {
    if (record.doneAtMs === undefined) {
      const moving = t.exposed - t.settled;
      if (t.settled < targetOf(record.index) || moving > 0) break;
      record = { ...record, doneAtMs: input.nowMs };
      events.push({
        type: 'stepFinished', index: record.index, count, hosts: t.settled, failed: t.failed,
        durationMs: input.nowMs - record.startedAtMs,
      });
      const pauseSeconds = input.steps[record.index]?.pauseSeconds ?? 0;
      if (pauseSeconds > 0) {
        record.pauseUntilMs = input.nowMs + pauseSeconds * 1000;
        events.push({ type: 'stepPaused', index: record.index, count, untilMs: record.pauseUntilMs });
      }
    }
    if (record.pauseUntilMs !== undefined && input.nowMs < record.pauseUntilMs) {
      const promoted = input.promote?.revision === input.desiredRevision && input.promote.step === record.index + 1;
      if (!promoted) {
        wakeAtMs = record.pauseUntilMs;
        break;
      }
      events.push({ type: 'stepPromoted', index: record.index, count });
    }
    record = start(record.index + 1);
  }
  const allowance = record.doneAtMs !== undefined && record.index < last ? 0 : Math.max(0, targetOf(record.index) - t.exposed);
  return { record, allowance, wakeAtMs, events };
}

/** "step 2/4 (40 hosts)", for status and history */
export function stepLabel(step: Pick<StepRecord, 'index' | 'count' | 'hosts'>): string {
  return `step ${step.index + 1}/${step.count} (${step.hosts} host${step.hosts === 1 ? '' : 's'})`;
}

/**
 * `1,10%:300,50%` (the simulator's --steps): cumulative hosts, each with an optional pause in seconds after a
 * colon. Throws a plain Error saying what is wrong; the spec's own checks (checkSteps) then apply.
 */
export function parseStepsText(text: string): RolloutStep[] {
  return text.split(',').map((part, i) => {
    const m = /^\s*([^:\s]+)\s*(?::\s*(\S+)\s*)?$/.exec(part);
    if (!m) throw new Error(`step ${i + 1} ${JSON.stringify(part)} is not HOSTS or HOSTS:PAUSE_SECONDS (like 10% or 10%:300)`);
    const hosts = /^\d+$/.test(m[1]!) ? Number(m[1]) : m[1]!;
    if (m[2] === undefined) return { hosts };
    if (!/^\d+$/.test(m[2])) throw new Error(`step ${i + 1} ${JSON.stringify(part)}: the pause after the colon must be whole seconds (like 10%:300)`);
    return { hosts, pauseSeconds: Number(m[2]) };
  });
}

/**
 * Problems with a spec's rollout.steps (and rollout.promote), each saying how to fix it. Shares are cumulative,
 * so a step may not ask for fewer hosts than the one before (compared among counts, and among percents).
 */
export function checkSteps(steps: unknown, where: string): string[] {
  if (steps === undefined) return [];
  if (!Array.isArray(steps) || steps.length === 0) {
    return [`${where} must be a non-empty list of steps (like [{ hosts: 1 }, { hosts: "10%", pauseSeconds: 300 }]); remove it to roll out without steps`];
  }
  if (steps.length > 20) return [`${where} has ${steps.length} steps: use at most 20`];
  const problems: string[] = [];
  let lastCount = 0;
  let lastPercent = 0;
  steps.forEach((step: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof step !== 'object' || step === null || Array.isArray(step)) {
      problems.push(`${at} must be an object like { hosts: "10%", pauseSeconds: 300 }`);
      return;
    }
    const s = step as Record<string, unknown>;
    for (const key of Object.keys(s)) {
      if (key !== 'hosts' && key !== 'pauseSeconds') problems.push(`${at}.${key} is not a known field (known: hosts, pauseSeconds)`);
    }
    const hosts = s.hosts;
    const percent = typeof hosts === 'string' ? PERCENT.exec(hosts) : null;
    if (typeof hosts === 'number' && Number.isInteger(hosts) && hosts >= 1 && hosts <= 100_000) {
      if (hosts < lastCount) problems.push(`${at}.hosts ${hosts} is fewer than the step before (${lastCount}): shares are cumulative, so each step gives the total so far`);
      lastCount = hosts;
    } else if (percent && Number(percent[1]) > 0 && Number(percent[1]) <= 100) {
      const p = Number(percent[1]);
      if (p < lastPercent) problems.push(`${at}.hosts ${hosts as string} is less than the step before (${lastPercent}%): shares are cumulative, so each step gives the total so far`);
      lastPercent = p;
    } else {
      problems.push(`${at}.hosts must be a whole number of hosts from 1 (like 1) or a percent above 0% up to 100% (like "10%"), got ${JSON.stringify(hosts)}`);
    }
    const pause = s.pauseSeconds;
    if (pause !== undefined && (typeof pause !== 'number' || !Number.isInteger(pause) || pause < 0 || pause > 604_800)) {
      problems.push(`${at}.pauseSeconds must be a whole number of seconds from 0 to 604800 (a week), got ${JSON.stringify(pause)}`);
    }
  });
  return problems;
}

export function checkPromotion(promote: unknown, where: string): string[] {
  if (promote === undefined) return [];
  const p = promote as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null || Array.isArray(p)
    || Object.keys(p).some((k) => k !== 'revision' && k !== 'step' && k !== 'rolloutStartedAtMs')
    || typeof p.revision !== 'string' || typeof p.step !== 'number' || !Number.isInteger(p.step) || p.step < 1
    || (p.rolloutStartedAtMs !== undefined && (typeof p.rolloutStartedAtMs !== 'number' || !Number.isFinite(p.rolloutStartedAtMs)))) {
    return [`${where} must be { revision: REVISION, step: N } (N counts from 1), as \`fleetsync promote\` writes it; remove it to promote nothing`];
  }
  return [];
}
