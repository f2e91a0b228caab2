/**
 * What the CLI touches outside itself, in one object so tests can run main() in-process and read what it wrote.
 * Everything else (the store, artifacts) is chosen by storeContext.ts from `env`.
 */
import os from 'node:os';
import type { Clock } from '../ports/clock.ts';
import { realClock } from '../clock/realClock.ts';

export interface Output {
  write(text: string): unknown;
  /** a terminal: status --watch redraws in place instead of printing one line per change */
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
  /** who asks, when --actor is not given: user@hostname */
  defaultActor(): string;
  /** Interrupts long-running commands (status --watch); without it they listen for SIGINT themselves. */
  signal?: AbortSignal;
}

function defaultActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): fall back to the environment
    user = process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
  return `${user}@${os.hostname()}`;
}

export function processIo(): CliIo {
  // The Contract pins Node 20; the SDK's seven-line "Node 22 soon" warning on every command would bury the
  // operator's output. An operator who sets the variable keeps their choice.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    clock: realClock,
    defaultActor,
  };
}
