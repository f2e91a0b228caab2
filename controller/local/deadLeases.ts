/**
 * A controller killed with `kill -9` leaves its fleet leases live until they expire, so a controller started
 * again on the embedded default would wait out the dead one's lease (leaseDurationSeconds) before the first
 * host moves. In the embedded default the home is claimed (controller.lock), so every holder of its leases ran
 * on this machine: one named after this host whose process is gone can never renew or write again, and its
 * lease is released at start. A holder whose pid is alive (or reused), or named elsewhere, is left to expire.
 */
import type { Logger } from '../log.ts';
import type { Lease, Store } from '../ports/store.ts';
import { holderPidOn } from '../holderName.ts';

export interface DeadLeaseOptions {
  store: Store;
  hostname: string;
  pidAlive: (pid: number) => boolean;
  nowMs: number;
  log: Logger;
}

/** Releases the live leases of dead controllers of this machine; returns the fleets whose lease it released. */
export async function releaseDeadLeases(o: DeadLeaseOptions): Promise<string[]> {
  const { fleets } = await o.store.listFleets();
  const released: string[] = [];
  for (const { name } of fleets) {
    const lease: Lease | null = await o.store.getLease(name);
    if (!lease || lease.holder === '' || lease.expiresAtMs <= o.nowMs) continue;
    const pid = holderPidOn(lease.holder, o.hostname);
    if (pid === null || o.pidAlive(pid)) continue;
    // Conditional on the dead holder's token: a lease someone took meanwhile is not touched.
    await o.store.releaseLease(lease);
    o.log.info({ fleet: name, holder: lease.holder, token: lease.token },
      `released the lease of ${lease.holder}: its process ${pid} no longer runs on this machine`);
    released.push(name);
  }
  // Its membership record too, so the fair share counts the live controllers only (controller/fairShare.ts).
  for (const record of await o.store.listControllers()) {
    const pid = holderPidOn(record.holder, o.hostname);
    if (pid === null || o.pidAlive(pid) || record.expiresAtMs <= o.nowMs) continue;
    await o.store.deleteController(record);
  }
  return released;
}
