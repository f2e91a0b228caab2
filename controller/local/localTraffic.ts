/**
 * The Traffic port for the local fleet: local hosts sit behind no load balancer, so there is no target health
 * to read and nothing to register or deregister. A local fleet's spec should name no targetGroupArns; if it
 * does, draining is skipped here rather than failing every sync.
 */
import type { TargetState, Traffic } from '../ports/traffic.ts';

export class LocalTraffic implements Traffic {
  health(_targetGroupArns: string[]): Promise<Map<string, TargetState>> {
    return Promise.resolve(new Map());
  }

  deregister(_args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    return Promise.resolve();
  }

  register(_args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void> {
    return Promise.resolve();
  }
}
