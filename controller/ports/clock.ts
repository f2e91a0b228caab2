/** Time, real or virtual: only the clock adapters touch Date.now and timers. */
export interface Clock {
  nowMs(): number;
  /** Resolves after `ms`; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** A source of numbers in [0, 1): Math.random in production, seeded in simulations. */
export type Random = () => number;
