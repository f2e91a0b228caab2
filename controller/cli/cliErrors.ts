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

/** What to do about AWS settings the SDK could not find: its own messages do not say. */
function settingsHint(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'CredentialsProviderError') {
      return ' (no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role)';
    }
    if (/Region is missing/.test(e.message)) return ' (set AWS_REGION, like AWS_REGION=eu-west-1)';
  }
  return '';
}

export function messageOf(err: unknown): string {
  if (err instanceof ValidationError) {
    return err.problems.length === 1 ? err.problems[0] ?? err.message : `\n  - ${err.problems.join('\n  - ')}`;
  }
  if (err instanceof Error) return `${err.message}${settingsHint(err)}`;
  return String(err);
}
