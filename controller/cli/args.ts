/** Arguments and options several commands share, validated by commander so bad input exits 2 before any I/O. */
import { Argument, InvalidArgumentError, type Command } from 'commander';
import { checkFleetName, checkInstanceId, checkRevision } from '../../state/validate.ts';

function validated(check: (value: unknown, what: string) => string | undefined, what: string) {
  return (value: string): string => {
    const problem = check(value, what);
    if (problem) throw new InvalidArgumentError(problem);
    return value;
  };
}

export const fleetArgument = (): Argument =>
  new Argument('<fleet>', 'fleet name (like web-prod)').argParser(validated(checkFleetName, 'fleet name'));

export const optionalFleetArgument = (): Argument =>
  new Argument('[fleet]', 'fleet name (like web-prod); all fleets when left out').argParser(validated(checkFleetName, 'fleet name'));

export const revisionArgument = (): Argument =>
  new Argument('<revision>', 'revision to deploy (like a git sha 3f9c2ab)').argParser(validated(checkRevision, 'revision'));

export const instanceArgument = (): Argument =>
  new Argument('<instance>', 'instance id (like i-0123456789abcdef0)').argParser(validated(checkInstanceId, 'instance id'));

/** --actor and --reason, recorded in history with every change. */
export function changeOptions(command: Command): Command {
  return command
    .option('--actor <who>', 'who asks, recorded in history (default: user@hostname)')
    .option('--reason <text>', 'why, recorded in history');
}

export function example(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

export interface ChangeOptions {
  actor?: string;
  reason?: string;
}
