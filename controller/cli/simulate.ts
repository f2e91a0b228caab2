import type { Command } from 'commander';

/** `fleetsync simulate`: one rollout against a simulated Auto Scaling group in virtual time. */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run one rollout against a simulated Auto Scaling group in virtual time')
    .action(() => {
      process.stderr.write('fleetsync simulate is not built yet\n');
      process.exitCode = 1;
    });
}
