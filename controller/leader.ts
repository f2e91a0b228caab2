/**
 * Leadership of one fleet: a lease item in the Store, acquired and renewed with conditional writes. A leader
 * that cannot renew within its renew deadline (shorter than the lease) stops acting before its lease can
 * expire, so two controllers never act on one fleet at once.
 */
import type { Clock, Random } from './ports/clock.ts';
import type { Lease, Store } from './ports/store.ts';
import type { Logger } from './log.ts';
import { UNCAPPED_SHARE, type LeaseShare } from './fairShare.ts';

export interface LeaderSettings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEADER_SETTINGS: LeaderSettings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export interface LeaderElectorOptions {
  store: Store;
  fleet: string;
  holder: string;
  clock: Clock;
  random: Random;
  settings: LeaderSettings;
  log: Logger;
  /** this process's fair share of the fleets, shared by its electors (uncapped when absent) */
  share?: LeaseShare;
  onLeaseChange?: (held: boolean) => void;
}

export type Lead = (lease: Lease, signal: AbortSignal, held: () => boolean) => Promise<void>;

export class LeaderElector {
  private readonly share: LeaseShare;

  constructor(private readonly o: LeaderElectorOptions) {
    this.share = o.share ?? UNCAPPED_SHARE;
    if (o.settings.renewDeadlineMs >= o.settings.leaseDurationMs) {
      throw new Error(`renewDeadlineMs (${o.settings.renewDeadlineMs}) must be shorter than leaseDurationMs (${o.settings.leaseDurationMs})`);
    }
  }

  /**
   * Campaigns for the lease until `signal` aborts; while leading, runs `lead` with a signal that aborts on loss
   * and `held`, which says whether the lease may still be held (checked by the reconciler before each act).
   */
  async run(signal: AbortSignal, lead: Lead): Promise<void> {
    let handedOver = false;
    while (!signal.aborted) {
      // A fleet this process just handed over is left for one lease to those below their share.
      const lease = await this.acquire(signal, handedOver ? this.o.clock.nowMs() + this.o.settings.leaseDurationMs : 0);
      if (!lease) return;
      handedOver = await this.leadWhileRenewed(lease, signal, lead);
    }
  }

  private async acquire(signal: AbortSignal, notBeforeMs: number): Promise<Lease | null> {
    const { store, fleet, holder, clock, settings } = this.o;
    /** since when the lease has been seen free without a break: a fleet free for a whole lease is taken over share */
    let freeSinceMs: number | null = null;
    while (!signal.aborted) {
      try {
        const current = await store.getLease(fleet);
        const nowMs = clock.nowMs();
        this.share.leaseRead(fleet, current);
        // A live lease in this process's own name is one it stepped down from (a renew that landed after its
        // deadline): taken again at once, under a new token that fences the old term, not waited out.
        const free = !current || current.holder === '' || current.expiresAtMs <= nowMs || current.holder === holder;
        freeSinceMs = free ? freeSinceMs ?? nowMs : null;
        // Taken at once while this process is below its share: no pacing, so a hundred free fleets get leaders
        // in one retry period, spread by the share rather than by who polled first.
        if (free && !signal.aborted && nowMs >= notBeforeMs && this.share.reserve(freeSinceMs!)) {
          let taken: Lease | null = null;
          try {
            taken = await store.acquireLease({ fleet, holder, durationMs: settings.leaseDurationMs, nowMs: clock.nowMs() });
            if (taken) {
              this.o.log.info({ fleet, token: taken.token }, 'took the fleet lease: leading');
              this.o.onLeaseChange?.(true);
            }
          } finally {
            this.share.unreserve();
          }
          if (taken) return taken;
        }
      } catch (error) {
        if (signal.aborted) return null;
        this.o.log.warn({ fleet, err: error }, 'could not read or take the lease');
      }
      try {
        await clock.sleep(settings.retryPeriodMs, signal);
      } catch {
        return null;
      }
    }
    return null;
  }

  /** Leads until the lease is lost, given up or handed over; returns whether it was handed over. */
  private async leadWhileRenewed(first: Lease, signal: AbortSignal, lead: Lead): Promise<boolean> {
    const { store, clock, settings, fleet } = this.o;
    const leading = new AbortController();
    const onAbort = (): void => leading.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // Taken while shutting down: a listener added to an aborted signal never fires.
    if (signal.aborted) onAbort();
    // Counted from when the last successful renew was asked for (the lease's own start), on this process's clock.
    let validUntilMs = clock.nowMs() + settings.renewDeadlineMs;
    const held = (): boolean => !leading.signal.aborted && clock.nowMs() < validUntilMs;
    const running = lead(first, leading.signal, held).catch((error: unknown) => {
      this.o.log.error({ fleet, err: error }, 'fleet reconciler stopped with an error');
    }).finally(() => leading.abort());
    let lease = first;
    // The deadline is a timer, not a check after each renew: a renew call that hangs must not keep this
    // process acting past its lease. It counts from when the renew was asked for, the lease's own start.
    let cancelDeadline = (): void => {};
    const armDeadline = (fromMs: number): void => {
      cancelDeadline();
      cancelDeadline = clock.setTimer(fromMs + settings.renewDeadlineMs - clock.nowMs(), () => {
        if (leading.signal.aborted) return;
        this.o.log.warn({ fleet }, 'renew deadline passed: stepping down before the lease can expire');
        leading.abort();
      });
    };
    armDeadline(clock.nowMs());
    let handingOver = false;
    while (!leading.signal.aborted) {
      try {
        await clock.sleep(settings.retryPeriodMs, leading.signal);
      } catch {
        break;
      }
      const askedAtMs = clock.nowMs();
      try {
        const renewed = await store.renewLease({ lease, durationMs: settings.leaseDurationMs, nowMs: askedAtMs });
        if (leading.signal.aborted) break;
        if (!renewed) {
          this.o.log.warn({ fleet, token: lease.token }, 'lost the fleet lease: stepping down');
          break;
        }
        lease = renewed;
        validUntilMs = askedAtMs + settings.renewDeadlineMs;
        armDeadline(askedAtMs);
        if (this.share.handOver(fleet)) {
          handingOver = true;
          this.o.log.info({ fleet, token: lease.token }, 'handing the fleet over to another controller (over this process\'s fair share, or asked to)');
          break;
        }
      } catch (error) {
        this.o.log.warn({ fleet, err: error }, 'could not renew the lease');
      }
    }
    cancelDeadline();
    leading.abort();
    signal.removeEventListener('abort', onAbort);
    await running;
    this.o.onLeaseChange?.(false);
    // Released once the reconciler stopped acting, so the next leader need not wait the lease out.
    if (signal.aborted || handingOver) {
      await store.releaseLease(lease).catch(() => undefined);
    }
    if (handingOver) this.share.handedOver();
    return handingOver;
  }
}
