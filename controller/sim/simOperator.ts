/**
 * The operator's side of a simulation: every spec change is a conditional write followed by its history
 * event, as the CLI does; a hand edit can leave the spec item malformed for a while and fix it again.
 */
import type { FleetSpec } from '../../state/spec.ts';
import { parseStoredFleet } from '../../state/storedItems.ts';
import type { Clock } from '../ports/clock.ts';
import type { HistoryType } from '../ports/store.ts';
import type { MemoryStore } from './memoryStore.ts';

export class SimOperator {
  private spec: FleetSpec;
  private malformedUntilMs = 0;
  /** the revision the operator last asked for */
  desired: string;

  constructor(private readonly o: {
    store: MemoryStore; clock: Clock; fleet: string; spec: FleetSpec; track: (work: Promise<void>) => void;
  }) {
    this.spec = o.spec;
    this.desired = o.spec.revision;
  }

  get revision(): string {
    return this.spec.revision;
  }

  deploy(revision: string): Promise<void> {
    const first = this.storedGeneration() === 0;
    return this.edit((s) => ({ ...s, revision }), first ? 'apply' : 'deploy',
      first ? `created fleet at revision ${revision}` : `deploy ${revision}`);
  }

  async edit(change: (s: FleetSpec) => FleetSpec, type: HistoryType, message: string): Promise<void> {
    const { clock, store, fleet } = this.o;
    // A controller may have changed the spec (auto rollback): edit what is stored.
    const stored = store.peekFleet(fleet).fleet;
    if (clock.nowMs() >= this.malformedUntilMs && stored !== undefined) this.spec = parseStoredFleet(stored).spec;
    this.spec = change(this.spec);
    // A malformed item is being fixed by hand: the fix carries this change too.
    if (clock.nowMs() < this.malformedUntilMs) return;
    await this.write(type, message);
  }

  /** Leaves the spec item unreadable for `forMs`, then writes the spec back (with any change asked meanwhile). */
  malformed(forMs: number): Promise<void> {
    const { clock, store, fleet } = this.o;
    const generation = this.storedGeneration();
    this.malformedUntilMs = clock.nowMs() + forMs;
    store.putRawFleet(fleet, { name: fleet, generation, spec: { revision: '$(reboot)' }, updatedAtMs: clock.nowMs() });
    clock.setTimer(forMs, () => this.o.track(this.write('apply', 'spec item fixed by hand')));
    return Promise.resolve();
  }

  private storedGeneration(): number {
    return (this.o.store.peekFleet(this.o.fleet).fleet as { generation?: number } | undefined)?.generation ?? 0;
  }

  private async write(type: HistoryType, message: string): Promise<void> {
    const { clock, store, fleet } = this.o;
    const record = await store.putFleetSpec({ name: fleet, spec: this.spec, expectedGeneration: this.storedGeneration(), nowMs: clock.nowMs() });
    this.desired = this.spec.revision;
    await store.appendHistory(fleet, {
      type, atMs: clock.nowMs(), actor: 'simulate', revision: this.spec.revision, generation: record.generation, message,
    });
  }
}
