/**
 * Helpers for the AWS adapter tests: SDK clients that can never reach a network (fake credentials, a
 * loopback endpoint nobody listens on, and their `send` stubbed by aws-sdk-client-mock), SDK-shaped errors,
 * and running a promise on a virtual clock.
 */
import type { VirtualClock } from '../../controller/sim/virtualClock.ts';

export const TEST_CLIENT_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  // port 9 (discard): if a stub were ever missing, the call fails on loopback instead of reaching AWS
  endpoint: 'http://127.0.0.1:9',
  maxAttempts: 1,
} as const;

/** An error shaped like the SDK's service exceptions (name = the service's error code). */
export function sdkError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 1 },
  });
}

/** Runs `promise` while advancing the virtual clock, so adapter sleeps take no real time. */
export async function onClock<T>(clock: VirtualClock, promise: Promise<T>, untilMs = 3_600_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  // handled here too, so a rejection is not reported as unhandled while the clock is still running
  tracked.catch(() => undefined);
  await clock.run({ untilMs: clock.nowMs() + untilMs, done: () => settled });
  return tracked;
}

export function instanceIds(count: number, offset = 0): string[] {
  return Array.from({ length: count }, (_, i) => `i-${(offset + i).toString(16).padStart(17, '0')}`);
}
