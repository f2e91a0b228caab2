import type { Command } from 'commander';
import type { Session } from '../session.ts';
import { example } from '../args.ts';

export function registerInit(program: Command, session: Session): void {
  example(
    program.command('init')
      .description('create the DynamoDB table if it is missing and wait until it is active (safe to run again)'),
    'fleetsync init --table fleetsync          (AWS mode: AWS_REGION and credentials from the environment)',
    'fleetsync init                            (the embedded default: the table of the running controller)',
  ).action(async (_options: object, command: Command) => {
    const context = await session.open(command);
    const { created } = await context.initTable();
    session.out(created ? `created ${context.describe}: it is active` : `${context.describe} already exists and is active`);
    session.exitCode = 0;
  });
}
