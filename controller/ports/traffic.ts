/** Load balancer state of a fleet's hosts (ELBv2 target groups). */

export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface Traffic {
  /** Target state per instance over all the groups (worst state wins). */
  health(targetGroupArns: string[], signal?: AbortSignal): Promise<Map<string, TargetState>>;
  deregister(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void>;
  register(args: { targetGroupArns: string[]; instanceIds: string[] }): Promise<void>;
}
