/** The keyed work queue (client-go style) on a virtual clock, and its workers. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WorkQueue, runWorkers } from '../../controller/workqueue/workQueue.ts';
import { ExponentialFailureRateLimiter } from '../../controller/workqueue/rateLimiter.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { seededRandom } from '../../controller/sim/random.ts';

function makeQueue<K = string>(clock = new VirtualClock(), random: () => number = () => 0): { queue: WorkQueue<K>; clock: VirtualClock } {
  const rateLimiter = new ExponentialFailureRateLimiter<K>({ baseMs: 1_000, maxMs: 8_000, random });
  return { queue: new WorkQueue<K>({ clock, rateLimiter }), clock };
}

/** Lets every settled promise run its callbacks. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Resolves to the promise's value, or to 'pending' if it has not settled once callbacks have run. */
async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  let result: T | 'pending' = 'pending';
  void promise.then((v) => {
    result = v;
  });
  await flush();
  return result;
}

describe('WorkQueue', () => {
  it('hands keys out in order, each once however often it was added', async () => {
    const { queue } = makeQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    expect(queue.depth()).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
    expect(await peek(queue.get())).toBe('pending');
  });

  it('re-queues a key added while it is processed once, after done, and not before', async () => {
    const { queue } = makeQueue();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    expect(queue.isProcessing('a')).toBe(true);
    queue.add('a');
    queue.add('a');
    expect(queue.depth()).toBe(0);
    const second = queue.get();
    expect(await peek(second)).toBe('pending');

    queue.done('a');
    expect(await second).toBe('a');
    queue.done('a');
    expect(queue.depth()).toBe(0);
    expect(await peek(queue.get())).toBe('pending');
  });

  it('does not re-queue a key that was not added again while processed', async () => {
    const { queue } = makeQueue();
    queue.add('a');
    await queue.get();
    queue.done('a');
    expect(queue.depth()).toBe(0);
    expect(queue.isProcessing('a')).toBe(false);
  });

  it('fires addAfter on the virtual clock, not before', async () => {
    const { queue, clock } = makeQueue();
    queue.addAfter('a', 1_000);
    expect(queue.depth()).toBe(0);
    await clock.run({ untilMs: 999 });
    expect(queue.depth()).toBe(0);
    await clock.run({ untilMs: 1_000 });
    expect(queue.depth()).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('lets the earlier of two delayed adds of a key win, and adds the key only once', async () => {
    const { queue, clock } = makeQueue();
    queue.addAfter('a', 5_000);
    queue.addAfter('a', 1_000);
    queue.addAfter('b', 1_000);
    queue.addAfter('b', 5_000);
    expect(clock.pendingTimers()).toBe(2);
    await clock.run({ untilMs: 1_000 });
    expect(queue.depth()).toBe(2);
    const got = [await queue.get(), await queue.get()];
    expect(got.sort()).toEqual(['a', 'b']);
    queue.done('a');
    queue.done('b');
    await clock.run({ untilMs: 10_000 });
    expect(queue.depth()).toBe(0);
  });

  it('adds at once for a delay of zero or less', () => {
    const { queue } = makeQueue();
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    expect(queue.depth()).toBe(2);
  });

  it('backs a failing key off 1x, 2x, 4x... up to the cap, and starts over after forget', async () => {
    const { queue, clock } = makeQueue();
    const fireTimes: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const start = clock.nowMs();
      queue.addRateLimited('a');
      await clock.run({ untilMs: start + 100_000, done: () => queue.depth() > 0 });
      fireTimes.push(clock.nowMs() - start);
      await queue.get();
      queue.done('a');
    }
    expect(fireTimes).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(queue.retries).toBe(6);

    queue.forget('a');
    const start = clock.nowMs();
    queue.addRateLimited('a');
    await clock.run({ untilMs: start + 100_000, done: () => queue.depth() > 0 });
    expect(clock.nowMs() - start).toBe(1_000);
  });

  it('releases waiting workers and drops delayed adds on shutdown', async () => {
    const { queue, clock } = makeQueue();
    const waiting = queue.get();
    queue.addAfter('a', 1_000);
    queue.shutdown();
    expect(await waiting).toBeUndefined();
    expect(await queue.get()).toBeUndefined();
    await clock.run({ untilMs: 5_000 });
    queue.add('b');
    expect(queue.depth()).toBe(0);
  });

  it('never hands one key to two workers at once (random add / get / done sequences)', async () => {
    type Op = { op: 'add'; key: number } | { op: 'get' } | { op: 'done'; pick: number } | { op: 'addAfter'; key: number; delayMs: number } | { op: 'advance'; ms: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('add' as const), key: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ op: fc.constant('get' as const) }),
      fc.record({ op: fc.constant('done' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('addAfter' as const), key: fc.integer({ min: 0, max: 4 }), delayMs: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 60 }) }),
    );

    await fc.assert(fc.asyncProperty(fc.array(opArb, { maxLength: 80 }), async (ops) => {
      const { queue, clock } = makeQueue<number>();
      const active = new Set<number>();
      /** keys added (or due from a delayed add) since they were last handed out */
      const owed = new Set<number>();
      const violations: string[] = [];
      const delayed = new Map<number, number>();
      const dueDelayed = (): void => {
        for (const [key, atMs] of delayed) {
          if (atMs <= clock.nowMs()) {
            owed.add(key);
            delayed.delete(key);
          }
        }
      };

      const handOut = (key: number | undefined): void => {
        if (key === undefined) return;
        dueDelayed();
        if (active.has(key)) violations.push(`key ${key} handed out while a worker still held it`);
        if (!owed.has(key)) violations.push(`key ${key} handed out without a pending add`);
        active.add(key);
        owed.delete(key);
      };
      for (const step of ops) {
        switch (step.op) {
          case 'add':
            queue.add(step.key);
            owed.add(step.key);
            break;
          case 'addAfter':
            if (step.delayMs <= 0) owed.add(step.key);
            else delayed.set(step.key, Math.min(delayed.get(step.key) ?? Infinity, clock.nowMs() + step.delayMs));
            queue.addAfter(step.key, step.delayMs);
            break;
          case 'get':
            void queue.get().then(handOut);
            break;
          case 'done': {
            if (active.size === 0) break;
            const key = [...active][step.pick % active.size]!;
            active.delete(key);
            queue.done(key);
            break;
          }
          case 'advance':
            await clock.run({ untilMs: clock.nowMs() + step.ms });
            dueDelayed();
            break;
        }
        await flush();
        expect(violations).toEqual([]);
      }

      // Drain: finish every held key and fetch until nothing is left; every add must have been served.
      await clock.run({ untilMs: clock.nowMs() + 1_000 });
      dueDelayed();
      for (let round = 0; round < 50 && (active.size > 0 || queue.depth() > 0); round += 1) {
        for (const key of [...active]) {
          active.delete(key);
          queue.done(key);
        }
        await flush();
        while (queue.depth() > 0) void queue.get().then(handOut);
        await flush();
      }
      expect(violations).toEqual([]);
      expect([...owed]).toEqual([]);
      queue.shutdown();
    }), { numRuns: 300 });
  });
});

describe('runWorkers', () => {
  it('never runs more than its concurrency at once, nor one key twice at once, and handles every key', async () => {
    const clock = new VirtualClock();
    const { queue } = makeQueue(clock);
    const random = seededRandom(42);
    let running = 0;
    let maxRunning = 0;
    const runningKeys = new Set<string>();
    const handled: string[] = [];
    const overlaps: string[] = [];

    const workers = runWorkers({
      queue,
      concurrency: 3,
      handle: async (key) => {
        if (runningKeys.has(key)) overlaps.push(key);
        runningKeys.add(key);
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await clock.sleep(1 + Math.floor(random() * 100));
        // Re-adding a key while it is handled must not start it on a second worker.
        if (handled.length < 40) queue.add(key);
        handled.push(key);
        running -= 1;
        runningKeys.delete(key);
      },
      onError: () => {},
    });
    for (let i = 0; i < 20; i += 1) queue.add(`host-${i}`);
    await clock.run({ untilMs: 1_000_000, done: () => handled.length >= 60 && running === 0 });
    queue.shutdown();
    await workers;

    expect(maxRunning).toBe(3);
    expect(overlaps).toEqual([]);
    expect(new Set(handled).size).toBe(20);
  });

  it('reports a failing key to onError and frees it for the next add', async () => {
    const clock = new VirtualClock();
    const { queue } = makeQueue(clock);
    const errors: Array<[string, unknown]> = [];
    let calls = 0;
    const workers = runWorkers({
      queue,
      concurrency: 2,
      handle: (key) => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error(`boom ${key}`)) : Promise.resolve();
      },
      onError: (key, error) => errors.push([key, error]),
    });
    queue.add('a');
    await flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBe('a');
    expect((errors[0]![1] as Error).message).toBe('boom a');
    expect(queue.isProcessing('a')).toBe(false);
    queue.add('a');
    await flush();
    expect(calls).toBe(2);
    queue.shutdown();
    await workers;
  });
});
