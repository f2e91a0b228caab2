/** How the batcher and poller hand events to hosts without reaching into the reconciler. */
import type { HostEvent } from '../../state/hostMachine.ts';
import type { HostContext } from '../../state/host.ts';

export interface HostMailbox {
  /** queues the event; a worker applies it */
  deliver(instanceId: string, event: HostEvent): void;
  /** applies the event now (persisting before returning) */
  deliverNow(instanceId: string, event: HostEvent): Promise<void>;
  /** the host's state and context, or null when it is gone */
  peek(instanceId: string): { state: string; context: HostContext } | null;
}
