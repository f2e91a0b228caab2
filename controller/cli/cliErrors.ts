/**
 * The CLI's exit codes (design Contract): 0 done, 1 the operation failed, 2 bad input. Actions throw these so
 * main() turns every failure into one message and one code.
 */
import { FleetsyncError } from '../errors.ts';
import { ValidationError } from '../../state/validate.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
/** Ctrl-C: the shell's convention (128 + SIGINT) */
export const EXIT_INTERRUPTED = 130;

/** The user asked for something malformed: nothing was written. */
export class UsageError extends FleetsyncError {}

/** The request was well formed but could not be carried out. */
export class OperationError extends FleetsyncError {}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ValidationError) return EXIT_BAD_INPUT;
  return EXIT_FAILED;
}

export function messageOf(err: unknown): string {
  if (err instanceof ValidationError) {
    return err.problems.length === 1 ? err.problems[0] ?? err.message : `\n  - ${err.problems.join('\n  - ')}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
