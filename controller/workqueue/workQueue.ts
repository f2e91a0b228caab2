/**
 * A keyed work queue after client-go's: a key waiting in `dirty` is queued once however often it is added,
 * and a key being processed is never handed to a second worker; added again meanwhile, it is queued once
 * the first worker is done.
 */
import type { Clock } from '../ports/clock.ts';
import type { RateLimiter } from './rateLimiter.ts';

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiting = new Map<K, { atMs: number; cancel: () => void }>();
  private readonly getters: Array<(key: K | undefined) => void> = [];
  private shuttingDown = false;
  retries = 0;

  constructor(private readonly options: { clock: Clock; rateLimiter: RateLimiter<K> }) {}

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) getter(key);
    else this.queue.push(key);
  }

  /** Adds `key` after `delayMs`; an earlier pending add for the key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const atMs = this.options.clock.nowMs() + delayMs;
    const pending = this.waiting.get(key);
    if (pending && pending.atMs <= atMs) return;
    pending?.cancel();
    const cancel = this.options.clock.setTimer(delayMs, () => {
      this.waiting.delete(key);
      this.add(key);
    });
    this.waiting.set(key, { atMs, cancel });
  }

  addRateLimited(key: K): void {
    this.retries += 1;
    this.addAfter(key, this.options.rateLimiter.whenMs(key));
  }

  forget(key: K): void {
    this.options.rateLimiter.forget(key);
  }

  /** The next key to work on, or undefined once the queue shuts down. */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.getters.push((k) => resolve(k === undefined ? undefined : this.take(k))));
  }

  private take(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Marks `key` done; if it was added while being processed, it is queued again. */
  done(key: K): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    const getter = this.getters.shift();
    if (getter) getter(key);
    else this.queue.push(key);
  }

  isProcessing(key: K): boolean {
    return this.processing.has(key);
  }

  /** Keys waiting to be worked on (not those being processed or waiting on a delay). */
  depth(): number {
    return this.queue.length;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { cancel } of this.waiting.values()) cancel();
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }
}

/** Runs `concurrency` workers over the queue until it shuts down: the fleet-wide concurrency cap. */
export async function runWorkers<K>(options: {
  queue: WorkQueue<K>;
  concurrency: number;
  handle: (key: K) => Promise<void>;
  onError: (key: K, error: unknown) => void;
}): Promise<void> {
  const { queue } = options;
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await options.handle(key);
      } catch (error) {
        options.onError(key, error);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
}
