/** The fair share of fleet leases one controller process takes (controller/fairShare.ts), on a fixed clock. */
import { describe, expect, it } from 'vitest';
import { FairShare } from '../../controller/fairShare.ts';
import type { Lease } from '../../controller/ports/store.ts';

const NOW = 100_000;
const clock = { nowMs: () => NOW, sleep: () => Promise.resolve(), setTimer: () => () => undefined };
const lease = (fleet: string, holder: string, expiresAtMs = NOW + 10_000): Lease => ({ fleet, holder, token: 1, expiresAtMs });

function share(fleets: number, members: string[]): FairShare {
  const s = new FairShare({ holder: 'me', clock, orphanAfterMs: 15_000 });
  s.setFleets(fleets);
  s.setMembers(members.map((holder) => ({ holder, expiresAtMs: NOW + 5_000 })));
  return s;
}

function hold(s: FairShare, fleets: string[]): void {
  for (const f of fleets) s.leaseChanged(f, true);
}

describe('FairShare', () => {
  it('counts live records, holders of live leases and itself; expired ones drop out', () => {
    const s = share(10, ['me', 'a']);
    s.setMembers([{ holder: 'a', expiresAtMs: NOW + 1 }, { holder: 'gone', expiresAtMs: NOW - 1 }]);
    s.leaseRead('f1', lease('f1', 'b'));
    s.leaseRead('f2', lease('f2', 'dead', NOW - 1));
    expect(s.live()).toEqual(['a', 'b', 'me']);
    expect(s.share()).toBe(4);
  });

  it('reserves places up to the share, counting those being taken; a fleet free for a whole lease is taken anyway', () => {
    const s = share(4, ['me', 'a']);
    expect([s.reserve(NOW), s.reserve(NOW), s.reserve(NOW)]).toEqual([true, true, false]);
    s.unreserve();
    hold(s, ['f1']);
    expect(s.reserve(NOW)).toBe(false);
    expect(s.reserve(NOW - 15_000)).toBe(true);
  });

  it('over its share, hands one fleet over at a time, and only while someone is below the share', () => {
    const s = share(6, ['me', 'a']);
    hold(s, ['f1', 'f2', 'f3', 'f4', 'f5']);
    s.leaseRead('f6', lease('f6', 'a'));
    expect(s.handOver('f1')).toBe(true);
    // the first hand-over is still under way
    expect(s.handOver('f2')).toBe(false);
    s.leaseChanged('f1', false);
    s.handedOver();
    expect(s.handOver('f2')).toBe(true);
    s.leaseChanged('f2', false);
    s.handedOver();
    // at the share (3 of 6 on two): done
    expect(s.handOver('f3')).toBe(false);
  });

  it('keeps its extra fleets when every other process is at its share (they would be orphaned)', () => {
    const s = share(6, ['me', 'a']);
    hold(s, ['f1', 'f2', 'f3', 'f4']);
    s.leaseRead('f5', lease('f5', 'a'));
    s.leaseRead('f6', lease('f6', 'a'));
    s.leaseRead('f7', lease('f7', 'a'));
    expect(s.handOver('f1')).toBe(false);
  });

  it('at a share that does not divide evenly, hands one over to a process below the floor', () => {
    // 7 fleets on 3: share 3, floor 2; me 3, a 3, b 1
    const s = share(7, ['me', 'a', 'b']);
    hold(s, ['f1', 'f2', 'f3']);
    for (const f of ['f4', 'f5', 'f6']) s.leaseRead(f, lease(f, 'a'));
    s.leaseRead('f7', lease('f7', 'b'));
    expect(s.handOver('f1')).toBe(true);
    // with b at the floor, 3 / 2 / 2 is as even as 7 on 3 gets
    const even = share(7, ['me', 'a', 'b']);
    hold(even, ['f1', 'f2', 'f3']);
    for (const f of ['f4', 'f5']) even.leaseRead(f, lease(f, 'a'));
    for (const f of ['f6', 'f7']) even.leaseRead(f, lease(f, 'b'));
    expect(even.handOver('f1')).toBe(false);
  });

  it('hands over when asked whatever the share, one fleet per request', () => {
    const s = share(2, ['me']);
    hold(s, ['f1', 'f2']);
    expect(s.handOver('f1')).toBe(false);
    s.requestHandOver(1);
    expect(s.handOver('f1')).toBe(true);
    s.leaseChanged('f1', false);
    s.handedOver();
    expect(s.handOver('f2')).toBe(false);
  });
});
