import type { Command } from 'commander';

/** `fleetsync controller`: the long-running service (what `npm start` runs). */
export function registerController(program: Command): void {
  program
    .command('controller')
    .description('run the controller (embedded default without FLEETSYNC_TABLE, AWS mode with it)')
    .action(() => {
      process.stderr.write('fleetsync controller is not wired yet: the controller loop is being built\n');
      process.exitCode = 1;
    });
}
