/** Spec changes are conditional on the generation read: a concurrent change wins, this one writes nothing. */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../controller/sim/memoryStore.ts';
import { VirtualClock } from '../../controller/sim/virtualClock.ts';
import { OperationError, UsageError } from '../../controller/cli/cliErrors.ts';
import { requesterFrom, writeChange } from '../../controller/cli/specChange.ts';
import { parseFleetSpec } from '../../state/validate.ts';

const spec = parseFleetSpec({
  autoScalingGroupName: 'web-asg', source: 's3://bucket/web', destination: '/var/www/app', revision: 'rev-a',
});

describe('writeChange', () => {
  it('fails with "changed by someone else" when the fleet moved on since it was read, and writes no event', async () => {
    const store = new MemoryStore();
    const clock = new VirtualClock(1_000);
    const read = await store.putFleetSpec({ name: 'web', spec, expectedGeneration: 0, nowMs: 0 });
    // someone else deploys between our read and our write
    await store.putFleetSpec({ name: 'web', spec: { ...spec, revision: 'rev-x' }, expectedGeneration: 1, nowMs: 0 });
    const attempt = writeChange({
      store, clock, current: read, requester: { actor: 'me' },
      change: { spec: { ...spec, revision: 'rev-b' }, event: { type: 'deploy', revision: 'rev-b', message: 'deploy rev-b' } },
    });
    await expect(attempt).rejects.toThrow(OperationError);
    await expect(attempt).rejects.toThrow(/changed by someone else .* try again/);
    expect((await store.getFleet('web'))?.spec.revision).toBe('rev-x');
    expect(await store.listHistory('web')).toEqual([]);
  });

  it('writes the spec, then the event with actor, reason, generation and the clock\'s time', async () => {
    const store = new MemoryStore();
    const clock = new VirtualClock(5_000);
    const read = await store.putFleetSpec({ name: 'web', spec, expectedGeneration: 0, nowMs: 0 });
    const result = await writeChange({
      store, clock, current: read, requester: { actor: 'me@host', reason: 'why not' },
      change: { spec: { ...spec, revision: 'rev-b' }, event: { type: 'deploy', revision: 'rev-b', message: 'deploy rev-b' } },
    });
    expect(result.record.generation).toBe(2);
    expect(await store.listHistory('web')).toEqual([{
      type: 'deploy', revision: 'rev-b', message: 'deploy rev-b', atMs: 5_000, actor: 'me@host', reason: 'why not', generation: 2,
    }]);
  });
});

describe('requesterFrom', () => {
  it('defaults the actor and refuses control characters', () => {
    expect(requesterFrom({}, () => 'u@h')).toEqual({ actor: 'u@h' });
    expect(() => requesterFrom({ actor: 'a\u001b[2Jb' }, () => 'u@h')).toThrow(UsageError);
    expect(() => requesterFrom({ reason: 'x'.repeat(1001) }, () => 'u@h')).toThrow(/1-1000 printable characters/);
  });
});
