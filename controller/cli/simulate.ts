/**
 * `fleetsync simulate`: one rollout against a simulated Auto Scaling group in virtual time; with --fleets or
 * --controllers, many fleets on several controllers sharing one simulated store.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { checkMaxUnavailable } from '../../state/validate.ts';
import { checkSteps, parseStepsText } from '../../state/steps.ts';
import type { RolloutStep } from '../../state/spec.ts';
import { simulate, SIMULATE_DEFAULTS, type SimulateResult } from '../sim/simulate.ts';
import { simulateFleets, type SimulateFleetsResult } from '../sim/simulateFleets.ts';
import { CpuMeter } from '../sim/cpuMeter.ts';
import { EXIT_FAILED, EXIT_OK, UsageError } from './cliErrors.ts';
import type { Session } from './session.ts';
import { example } from './args.ts';
import { readFileSync } from 'node:fs';
import type { FaultPlan } from '../sim/faultPlan.ts';

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

function seconds(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}`);
    }
    return n;
  };
}

function fraction(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(value) || n > max) {
      throw new InvalidArgumentError(`must be a fraction from 0 to ${max} (like 0.05)`);
    }
    return n;
  };
}

/** `1,10%:300,50%`: the cumulative hosts of each step, each with an optional pause in seconds after a colon */
function steps(value: string): RolloutStep[] {
  let parsed: RolloutStep[];
  try {
    parsed = parseStepsText(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
  const problems = checkSteps(parsed, 'steps');
  if (problems.length > 0) throw new InvalidArgumentError(`${problems.join('; ')} (write steps like 1,10%:300,50%)`);
  return parsed;
}

function maxUnavailable(value: string): string {
  const problem = checkMaxUnavailable(value, 'value');
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

interface SimulateFlags {
  hosts: number; maxUnavailable: string; syncSeconds: number; pollSeconds: number; resyncSeconds: number; seed: number;
  failRate: number; maxAttempts: number; maxFailures: number; scaleOut: number; scaleOutAt?: number; scaleOutOver: number;
  events: boolean; bumpAt?: number;
  crashAt?: number; throttleRate: number; paused?: boolean; agentDelaySeconds: number; warmPool: number; maxSeconds?: number;
  faults?: number; faultPlan?: string; steps?: RolloutStep[]; output: 'json' | 'text';
  fleets: number; controllers: number; killControllerAt?: number; addControllerAt?: number;
}

const DAY = 86_400;

export function registerSimulate(program: Command, session: Session): void {
  const d = SIMULATE_DEFAULTS;
  const command = program
    .command('simulate')
    .description('run one rollout against a simulated Auto Scaling group in virtual time (no AWS account needed)')
    .option('--hosts <n>', 'in-service hosts at the deploy (per fleet)', wholeNumber(1, 100_000), d.hosts)
    .option('--fleets <n>', 'fleets, one Auto Scaling group each, all deployed at once', wholeNumber(1, 1_000), 1)
    .option('--controllers <n>', 'controller processes sharing the fleets by lease', wholeNumber(1, 64), 1)
    .option('--kill-controller-at <s>', 'kill one controller for good at this second (several fleets or controllers only)', seconds(0, DAY))
    .option('--add-controller-at <s>', 'start one more controller at this second (several fleets or controllers only)', seconds(0, DAY))
    .option('--max-unavailable <n|p%>', 'in-service hosts synced at once: a count or a percent', maxUnavailable, String(d.maxUnavailable))
    .option('--sync-seconds <s>', 'how long one sync takes', seconds(0.001, DAY), d.syncSeconds)
    .option('--poll-seconds <s>', 'how often command results are read', seconds(0.1, 3_600), d.pollSeconds)
    .option('--resync-seconds <s>', 'how often the whole fleet is observed', seconds(1, 3_600), d.resyncSeconds)
    .option('--seed <k>', 'random seed: the same flags and seed give the same result', wholeNumber(0, 2 ** 32 - 1), d.seed)
    .option('--fail-rate <f>', 'share of syncs that fail', fraction(1), d.failRate)
    .option('--max-attempts <n>', 'attempts per host before it is marked failed', wholeNumber(1, 100), d.maxAttempts)
    .option('--max-failures <n>', 'failed hosts that halt the rollout', wholeNumber(1, 100_000), d.maxFailures)
    .option('--scale-out <n>', 'instances launched during the rollout (held in Pending:Wait); taken from the warm pool first', wholeNumber(0, 100_000), d.scaleOut)
    .option('--warm-pool <n>', 'instances the group keeps stopped in a warm pool (each synced as it launches into the pool, '
      + 'and again when it leaves it)', wholeNumber(0, 100_000), d.warmPool)
    .option('--scale-out-at <s>', 'when, in seconds after the deploy (default 0)', seconds(0, DAY))
    .option('--scale-out-over <s>', 'spread the scale-out\'s launches evenly over this many seconds (default 0: all at once)',
      seconds(0, DAY), d.scaleOutOverSeconds)
    .option('--no-events', 'the group\'s launch events do not reach the controller: launches wait for the resync (for comparison)')
    .option('--bump-at <s>', 'bump the desired revision again at this second', seconds(0, DAY))
    .option('--crash-at <s>', 'kill the controller at this second and start a new one at once', seconds(0, DAY))
    .option('--throttle-rate <f>', 'share of control-plane requests throttled', fraction(0.9), d.throttleRate)
    .option('--paused', 'deploy with the rollout paused (launching hosts are still synced)')
    .option('--steps <list>', 'a stepped rollout: cumulative hosts per step, a count or a percent, each with an optional '
      + 'pause in seconds after a colon (like 1,10%:300,50%; the rest of the fleet goes last; no pause unless given)', steps)
    .option('--agent-delay-seconds <s>', 'how long a new instance takes to register its agent', seconds(0, DAY), d.agentDelaySeconds)
    .option('--max-seconds <s>', 'give up after this long from the deploy (default: 3 x hosts x sync + 1 hour)', seconds(1, 365 * DAY))
    .option('--faults <seed>', 'inject a random fault plan drawn from this seed (port faults, crashes, zombies, '
      + 'terminations, ...) from the deploy until a stop the plan draws; the run must then converge with 0 invariant violations',
    wholeNumber(0, 2 ** 32 - 1))
    .option('--fault-plan <file>', 'inject the fault plan in this JSON file (a property test prints one when it shrinks a failure)')
    .addOption(new Option('--output <format>', 'json: one JSON object; text: a short summary').choices(['json', 'text']).default('json'))
    .action(async (flags: SimulateFlags) => {
      if (flags.fleets > 1 || flags.controllers > 1 || flags.killControllerAt !== undefined || flags.addControllerAt !== undefined) {
        await simulateMany(flags, session);
        return;
      }
      const result = await simulate({
        hosts: flags.hosts, maxUnavailable: flags.maxUnavailable, syncSeconds: flags.syncSeconds,
        pollSeconds: flags.pollSeconds, resyncSeconds: flags.resyncSeconds, seed: flags.seed, failRate: flags.failRate,
        maxAttempts: flags.maxAttempts, maxFailures: flags.maxFailures, scaleOut: flags.scaleOut,
        scaleOutAt: flags.scaleOutAt ?? null, scaleOutOverSeconds: flags.scaleOutOver, events: flags.events, bumpAt: flags.bumpAt ?? null, crashAt: flags.crashAt ?? null,
        throttleRate: flags.throttleRate, paused: flags.paused === true, agentDelaySeconds: flags.agentDelaySeconds, warmPool: flags.warmPool,
        maxSeconds: flags.maxSeconds ?? null, faults: flags.faults ?? null, steps: flags.steps ?? null,
        ...(flags.faultPlan !== undefined ? { faultPlan: readFaultPlan(flags.faultPlan) } : {}),
      });
      session.out(flags.output === 'json' ? JSON.stringify(result) : summary(result));
      session.exitCode = result.converged && result.invariantViolations === 0 ? EXIT_OK : EXIT_FAILED;
    });
  example(command,
    'fleetsync simulate --hosts 400 --max-unavailable 25% --sync-seconds 60 --output text',
    'fleetsync simulate --hosts 120 --fail-rate 0.05 --crash-at 90 --scale-out 10 --scale-out-at 30',
    'fleetsync simulate --hosts 40 --warm-pool 5 --scale-out 5 --scale-out-at 120 --output text',
    'fleetsync simulate --hosts 6 --max-unavailable 2 --sync-seconds 20 --faults 42 --output text',
    'fleetsync simulate --hosts 400 --max-unavailable 25% --sync-seconds 60 --steps 1,10%,50%,100% --output text',
    'fleetsync simulate --fleets 100 --hosts 2000 --controllers 4 --kill-controller-at 120');
}

/** Flags that only a single fleet's run knows. */
const SINGLE_FLEET_ONLY: Array<[keyof SimulateFlags, string]> = [
  ['scaleOut', '--scale-out'], ['scaleOutAt', '--scale-out-at'], ['bumpAt', '--bump-at'], ['crashAt', '--crash-at'],
  ['paused', '--paused'], ['faults', '--faults'], ['faultPlan', '--fault-plan'], ['warmPool', '--warm-pool'],
  ['steps', '--steps'], ['scaleOutOver', '--scale-out-over'],
];

async function simulateMany(flags: SimulateFlags, session: Session): Promise<void> {
  const given = SINGLE_FLEET_ONLY.filter(([key]) => flags[key] !== undefined && flags[key] !== 0 && flags[key] !== false).map(([, flag]) => flag);
  if (given.length > 0) {
    throw new UsageError(`${given.join(', ')}: only for one fleet on one controller; drop it, or drop --fleets, --controllers, `
      + '--kill-controller-at and --add-controller-at');
  }
  if (flags.killControllerAt !== undefined && flags.controllers < 2) {
    throw new UsageError('--kill-controller-at needs --controllers 2 or more: someone must take the killed one\'s fleets over');
  }
  const cpu = new CpuMeter();
  const result = await simulateFleets({
    fleets: flags.fleets, hosts: flags.hosts, controllers: flags.controllers, killControllerAt: flags.killControllerAt ?? null,
    addControllerAt: flags.addControllerAt ?? null,
    maxUnavailable: flags.maxUnavailable, syncSeconds: flags.syncSeconds, pollSeconds: flags.pollSeconds,
    resyncSeconds: flags.resyncSeconds, seed: flags.seed, failRate: flags.failRate, maxAttempts: flags.maxAttempts,
    maxFailures: flags.maxFailures, maxSeconds: flags.maxSeconds ?? null, throttleRate: flags.throttleRate, cpu,
  });
  session.out(flags.output === 'json' ? JSON.stringify(result) : fleetsSummary(result));
  // CPU differs from run to run: on stderr, so the JSON of a seed replays byte for byte.
  session.err(cpuSummary(cpu.millis(), result));
  session.exitCode = result.converged ? EXIT_OK : EXIT_FAILED;
}

function cpuSummary(millis: Record<string, number>, r: SimulateFleetsResult): string {
  const minutes = r.simulatedSeconds / 60;
  const lines = [`CPU per controller per simulated minute (${r.simulatedSeconds}s simulated):`];
  for (const [owner, ms] of Object.entries(millis)) {
    lines.push(`  ${owner}: ${(ms / minutes).toFixed(1)} ms/min (${(ms / 1000).toFixed(2)} s in all)`);
  }
  return lines.join('\n');
}

function fleetsSummary(r: SimulateFleetsResult): string {
  const lines = [
    `${r.converged ? 'converged' : 'did NOT converge'}: ${r.convergedFleets} of ${r.fleets} fleet(s) of ${r.hostsPerFleet} host(s)`
      + (r.convergedSeconds !== null ? ` after ${r.convergedSeconds}s` : '')
      + (r.notConverged.length > 0 ? ` (not: ${r.notConverged.join(', ')}${r.convergedFleets + r.notConverged.length < r.fleets ? ', ...' : ''})` : ''),
    `  one fleet alone: lower bound ${r.lowerBoundSeconds}s; per fleet p50 ${r.fleetConvergedSeconds?.p50 ?? '-'}s, max ${r.fleetConvergedSeconds?.max ?? '-'}s`,
    `  every fleet led after ${r.allLedSeconds ?? 'never'}s; leases at the end: `
      + Object.entries(r.leasesPerController).map(([c, n]) => `${c}=${n}`).join(' ')
      + ` (even ${r.leaseSpread.even}, off by at most ${r.leaseSpread.maxDeviationPercent}%)`,
  ];
  if (r.kill) {
    lines.push(`  killed ${r.kill.controller} at ${r.kill.atSeconds}s leading ${r.kill.fleetsLed} fleet(s): taken over after `
      + `${r.kill.takeoverSeconds ?? 'never'}s (bound: lease + one resync = ${r.kill.boundSeconds}s)`);
  }
  lines.push(`  API calls: ${r.apiCalls.total} ` + Object.entries(r.apiCalls.byOperation).map(([op, n]) => `${op}=${n}`).join(' '),
    `  store: ${r.storeCalls.reads} reads, ${r.storeCalls.writes} writes; commands per host at once: ${r.maxInFlightPerHost}; duplicate sends: ${r.duplicateSends}`);
  return lines.join('\n');
}

function readFaultPlan(file: string): FaultPlan {
  let plan: unknown;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--fault-plan ${file}: cannot read it as JSON (${error instanceof Error ? error.message : String(error)}); `
      + 'give the file a failing property test printed');
  }
  const p = plan as Partial<FaultPlan> | null;
  if (typeof p !== 'object' || p === null || typeof p.seed !== 'number' || typeof p.stopAtMs !== 'number'
    || typeof p.portFaultRate !== 'number' || typeof p.controllers !== 'number' || !Array.isArray(p.events)
    || typeof p.portFaults !== 'object' || p.portFaults === null || typeof p.drain !== 'boolean' || typeof p.syncSpread !== 'number') {
    throw new UsageError(`--fault-plan ${file}: not a fault plan (needs seed, stopAtMs, portFaultRate, portFaults, controllers, `
      + 'drain, syncSpread and events); give the file a failing property test printed');
  }
  return plan as FaultPlan;
}

function shown(p: SimulateResult['launchToServiceSeconds']): string {
  return `p50 ${p.p50}s p99 ${p.p99}s max ${p.max}s`;
}

function summary(r: SimulateResult): string {
  const s = r.settings;
  const lines = [
    `${r.converged ? 'converged' : 'did NOT converge'}: ${r.hosts} host(s) at ${r.finalRevision}` +
      (r.convergedSeconds !== null ? ` after ${r.convergedSeconds}s` : ''),
    r.steps
      ? `  lower bound ${r.lowerBoundSeconds}s (sum over the steps of ceil(step's new hosts / ${r.maxUnavailableAllowed}) x ${s.syncSeconds}s, plus pauses); one host after another: ${r.sequentialSeconds}s`
      : `  lower bound ${r.lowerBoundSeconds}s (ceil(hosts / ${r.maxUnavailableAllowed}) x ${s.syncSeconds}s); one host after another: ${r.sequentialSeconds}s`,
    ...(r.steps ?? []).map((st) => `  step ${st.step}/${r.steps!.length}: ${st.hosts} host(s), started ${st.startedSeconds ?? '-'}s, done ${st.finishedSeconds ?? (st.step === r.steps!.length && r.converged ? r.convergedSeconds : '-')}s`),
    `  unavailable at once: ${r.rollouts.length > 1 ? 'see each rollout below' : `${r.maxUnavailableObserved} of ${r.maxUnavailableAllowed} allowed`}; commands per host at once: ${r.maxInFlightPerHost}; duplicate sends: ${r.duplicateSends}`,
    `  API calls: ${r.apiCalls.total} (${r.apiCalls.perHost} per host, ${r.apiCalls.throttled} throttled) ` +
      Object.entries(r.apiCalls.byOperation).map(([op, n]) => `${op}=${n}`).join(' '),
    `  store: ${r.storeCalls.reads} reads, ${r.storeCalls.writes} writes`,
    `  failed hosts: ${r.failedHosts}; lifecycle CONTINUE: ${r.lifecycleCompleted}, ABANDON: ${r.lifecycleAbandoned}; stale in service: ${r.staleInService}`,
    ...(r.launchToServiceSeconds.max === null ? [] : [
      `  launch to service: ${shown(r.launchToServiceSeconds)}; delay added to a launch: ${shown(r.extraLaunchDelaySeconds)}`
        + ` (launch events ${r.launchEvents ? 'on' : 'off'})`]),
    `  invariant violations: ${r.invariantViolations} (${r.invariantChecks} checks)`
      + r.violations.map((v) => `\n    ${v.atMs / 1000}s ${v.invariant}: ${v.detail}`).join(''),
  ];
  if (r.rollouts.length > 1) {
    for (const [i, ro] of r.rollouts.entries()) {
      lines.push(`  rollout ${i + 1}: ${ro.revision} at ${ro.startedAtSeconds}s over ${ro.inServiceAtStart} in-service host(s):`
        + ` unavailable at once ${ro.maxUnavailableObserved} of ${ro.maxUnavailableAllowed} allowed`);
    }
  }
  if (r.warmPool) {
    lines.push(`  warm pool: ${r.warmPool.drawn} drawn by the scale-out, ${r.warmPool.asleep.length} asleep at the end; `
      + `commands sent to stopped instances: ${r.warmPool.commandsToAsleep}`);
  }
  if (r.faultPlan) {
    lines.push(`  faults injected: ${Object.entries(r.faultsInjected).map(([k, n]) => `${k}=${n}`).join(' ') || 'none'}`
      + ` until ${r.faultPlan.stopAtMs / 1000}s; convergence bound after the last fault: ${r.convergenceBoundSeconds}s`);
  }
  return lines.join('\n');
}
