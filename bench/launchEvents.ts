/**
 * Benchmark: how long a launched instance waits for fleetsync, with and without the group's launch events.
 * A 400-host rollout (60 s syncs) while the group launches 100 instances, one every 6.1 s, so the launches fall
 * at every phase of the 30 s resync. Virtual time: the figures are the same on every machine, and for a seed.
 *
 *   node --import tsx bench/launchEvents.ts [--seed 1]
 *
 * extraLaunchDelaySeconds: from an instance entering Pending:Wait to its lifecycle CONTINUE, minus the sync. Run
 * again with each new instance's agent coming online 30 s after launch, as an SSM agent does: the event comes
 * before the agent, so the leader keeps observing the instance (every poll, 5 s) until the agent is online.
 */
import { parseArgs } from 'node:util';
import { simulate, type SimulateOptions } from '../controller/sim/simulate.ts';

const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' } } });

const RUN: Partial<SimulateOptions> = {
  hosts: 400, maxUnavailable: '25%', syncSeconds: 60, resyncSeconds: 30, scaleOut: 100, scaleOutAt: 0, scaleOutOverSeconds: 610,
  seed: Number(values.seed),
};

async function main(): Promise<void> {
  console.log('extraLaunchDelaySeconds (launch to service minus the 60 s sync), 100 launches during a 400-host rollout, resync 30 s:');
  for (const [agentDelaySeconds, events] of [[0, true], [0, false], [30, true], [30, false]] as const) {
    if (agentDelaySeconds > 0 && events) console.log(`with each new instance's agent online ${agentDelaySeconds} s after launch (counted in the delay):`);
    const r = await simulate({ ...RUN, events, agentDelaySeconds });
    const { p50, p99, max } = r.extraLaunchDelaySeconds;
    const calls = r.apiCalls.byOperation;
    console.log(`  launch events ${events ? 'on ' : 'off'}: p50 ${p50}s  p99 ${p99}s  max ${max}s`
      + `  (launched in service: ${r.launchedInService.length}, DescribeAutoScalingGroups ${calls.DescribeAutoScalingGroups ?? 0},`
      + ` SendCommand ${calls.SendCommand ?? 0}, converged ${r.converged})`);
  }
}

await main();
