/** How the batcher and poller hand events to hosts without reaching into the reconciler. */
import type { HostEvent } from '../../state/hostMachine.ts';
import type { HostContext } from '../../state/host.ts';

export interface HostMailbox {
  /** queues the event; a worker applies it */
  deliver(instanceId: string, event: HostEvent): void;
  /** applies the event now (persisting before returning); when it cannot be stored, it is dropped and this throws */
  deliverNow(instanceId: string, event: HostEvent): Promise<void>;
  /** the host's effects are owed again later: a RESUME with backoff */
  retryLater(instanceId: string): void;
  /** the host's state and context, or null when it is gone */
  peek(instanceId: string): { state: string; context: HostContext } | null;
}
