/** A Clock's sleep built on its own setTimer, so virtual clocks share one way of waiting that an abort ends. */
export function timerSleep(args: {
  setTimer: (ms: number, fn: () => void) => () => void;
  ms: number;
  signal?: AbortSignal | undefined;
}): Promise<void> {
  const { setTimer, ms, signal } = args;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const cancel = setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
