/** The hosts of one fleet: an Auto Scaling group's instances, with lifecycle and agent state. */

export interface FleetRef {
  autoScalingGroupName: string;
  lifecycleHookName: string;
}

export interface Instance {
  instanceId: string;
  /** the ASG lifecycle state: Pending, Pending:Wait, InService, Terminating, Standby, Warmed:Pending:Wait, Warmed:Stopped, ... */
  lifecycleState: string;
  privateIp?: string;
  availabilityZone?: string;
  launchTimeMs?: number;
  /** the host's command agent (SSM) is online, so commands can reach it */
  agentOnline: boolean;
}

export type LifecycleResult = 'CONTINUE' | 'ABANDON';

export interface Fleet {
  /**
   * Every instance of the group and of its warm pool (Warmed:* states), with a bounded number of paginated list
   * calls (never one per host).
   */
  list(ref: FleetRef, signal?: AbortSignal): Promise<Instance[]>;
  completeLifecycle(args: { ref: FleetRef; instanceId: string; result: LifecycleResult }): Promise<void>;
  /** Extends the lifecycle hook's heartbeat timeout of a launching host still being synced. */
  heartbeat(args: { ref: FleetRef; instanceId: string }): Promise<void>;
  /**
   * The launch hook's HeartbeatTimeout, which paces heartbeats; null when the group has no such hook.
   * Optional: without it the controller's configured interval applies.
   */
  heartbeatTimeoutMs?(ref: FleetRef): Promise<number | null>;
  /** Marks a quarantined in-service host unhealthy so the group replaces it (optional on some adapters). */
  markUnhealthy(args: { ref: FleetRef; instanceId: string }): Promise<void>;
}

// What lifecycle states mean is pure logic (the host machine needs it too): kept in state/, named here as before.
export { isHookWaiting, isLaunching, isLeaving, isWarm, leftWarmPool } from '../../state/lifecycleStates.ts';
