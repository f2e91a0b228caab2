/**
 * Local launch events: `local scale` (LocalFleet.scale, in its own process) leaves one event file per host it
 * adds in Pending:Wait, and the fleet's leader takes them: each handed over once, then deleted, as SQS would.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalFleet } from '../../controller/local/localFleet.ts';
import { LocalGroup } from '../../controller/local/localGroup.ts';
import { LocalLaunchEvents } from '../../controller/local/localLaunchEvents.ts';
import { createLogger } from '../../controller/log.ts';
import type { LaunchEvent } from '../../controller/ports/launchEvents.ts';
import { ManualClock, tempHome, waitFor } from './helpers.ts';

let home: string;
let remove: () => Promise<void>;
let clock: ManualClock;
let fleet: LocalFleet;
let warnings: string[];
let events: LocalLaunchEvents;

beforeEach(async () => {
  ({ home, remove } = await tempHome());
  clock = new ManualClock();
  fleet = new LocalFleet({ group: new LocalGroup({ home, clock }), clock });
  warnings = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number; msg: string; problem?: string };
        if (entry.level === 40) warnings.push(`${entry.msg}: ${entry.problem ?? ''}`);
      }
      done();
    },
  });
  events = new LocalLaunchEvents({ home, clock, log: createLogger({ level: 'info', destination }) });
});

afterEach(async () => {
  await remove();
});

const files = async (group: string): Promise<string[]> => readdir(events.folder(group)).catch(() => []);

describe('local launch events', () => {
  it('are written by a scale-out, one per host added to wait in the launch hook, and none for hosts added in service', async () => {
    await fleet.scale({ group: 'demo', count: 2, lifecycleState: 'InService', create: true });
    expect(await files('demo')).toEqual([]);
    const { added } = await fleet.scale({ group: 'demo', count: 5 });
    expect(added).toHaveLength(3);
    const written = await files('demo');
    expect(written).toHaveLength(3);
    expect(written.map((f) => /(i-[0-9a-f]{17})\.json$/.exec(f)?.[1]).sort()).toEqual([...added].sort());
  });

  it('are handed to the follower once each, in order, and deleted', async () => {
    const first = await fleet.scale({ group: 'web/prod', count: 2, create: true });
    const leading = new AbortController();
    const seen: LaunchEvent[] = [];
    const following = events.follow({ autoScalingGroupName: 'web/prod', signal: leading.signal, onEvent: (e) => seen.push(e) });
    await waitFor('the first two events', () => seen.length === 2);
    // one launched while it follows comes within its poll
    const { added } = await fleet.scale({ group: 'web/prod', count: 3 });
    await waitFor('the third event', () => seen.length === 3);
    leading.abort();
    await following;
    expect(seen).toEqual([...first.added, ...added].map((instanceId) => ({ autoScalingGroupName: 'web/prod', instanceId })));
    expect(await files('web/prod')).toEqual([]);
  });

  it('log and delete a file that is not a launch event of the group, and go on', async () => {
    await fleet.scale({ group: 'demo', count: 1, create: true });
    await writeFile(path.join(events.folder('demo'), '000000000000000-garbage.json'), 'not json');
    const leading = new AbortController();
    const seen: string[] = [];
    const following = events.follow({ autoScalingGroupName: 'demo', signal: leading.signal, onEvent: (e) => seen.push(e.instanceId) });
    await waitFor('the good event', () => seen.length === 1);
    await waitFor('the folder emptied', async () => (await files('demo')).length === 0);
    leading.abort();
    await following;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^malformed launch event: deleted: not JSON/);
  });

  it('stay in the folder while nobody leads the fleet, for the next leader', async () => {
    await fleet.scale({ group: 'demo', count: 2, create: true });
    const early = new AbortController();
    early.abort();
    await events.follow({ autoScalingGroupName: 'demo', signal: early.signal, onEvent: () => undefined });
    expect(await files('demo')).toHaveLength(2);
  });
});
