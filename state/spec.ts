/** The Fleet resource of the design: what an operator applies, what the controller reports. */

export const API_VERSION = 'fleetsync.dev/v1';

export type Strategy = 'release' | 'inplace';

/**
 * One step of a stepped rollout. `hosts` is cumulative: the share of the in-service hosts at the rollout's start
 * that runs the new revision once this step is done (a count, or "N%").
 */
export interface RolloutStep {
  hosts: number | string;
  /** once the step's hosts are in sync, wait this long before the next step (an operator may promote sooner) */
  pauseSeconds?: number;
}

/** An operator let a step of one rollout go on without waiting out its pause (`fleetsync promote`). */
export interface Promotion {
  revision: string;
  /** 1-based, as status shows it */
  step: number;
  /** the rollout's status.rollout.startedAtMs: a later rollout of the same revision is not promoted by this */
  rolloutStartedAtMs?: number;
}

export interface RolloutSpec {
  /** a count ("3" or 3) or a percent ("25%") of the in-service hosts at the start of the rollout */
  maxUnavailable: number | string;
  maxLaunching: number;
  maxFailures: number;
  autoRollback: boolean;
  paused: boolean;
  drain: boolean;
  syncTimeoutSeconds: number;
  maxAttempts: number;
  /** absent: every host at once within maxUnavailable; else these shares in order, the rest of the fleet last */
  steps?: RolloutStep[];
  promote?: Promotion;
}

export interface FleetSpec {
  autoScalingGroupName: string;
  /** the ASG lifecycle hook holding new instances in Pending:Wait */
  lifecycleHookName: string;
  targetGroupArns: string[];
  /** revisions live at <source>/<revision>/: s3://bucket/prefix or file:///path */
  source: string;
  destination: string;
  revision: string;
  strategy: Strategy;
  excludes: string[];
  /** release strategy: name inside the release -> absolute shared folder */
  links: Record<string, string>;
  rollout: RolloutSpec;
  check?: { command: string };
  /** the Linux user the check runs as (the host runs it with runuser); needs check; default: the agent's user, root */
  checkUser?: string;
  keepReleases: number;
  /** operator requests: instanceId -> request id; the leader retries a failed host once per new id */
  retries: Record<string, string>;
}

export const DEFAULT_ROLLOUT: RolloutSpec = {
  maxUnavailable: '25%',
  maxLaunching: 50,
  maxFailures: 1,
  autoRollback: false,
  paused: false,
  drain: false,
  syncTimeoutSeconds: 900,
  maxAttempts: 3,
};

export const DEFAULT_EXCLUDES = ['media/*', 'var/*'];
export const DEFAULT_LIFECYCLE_HOOK = 'fleetsync-launch';
export const DEFAULT_KEEP_RELEASES = 5;

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** Every machine state belongs to exactly one bucket (design: hostCounts and metrics share them). */
export interface HostCounts {
  total: number;
  inSync: number;
  syncing: number;
  queued: number;
  failed: number;
  launching: number;
  /**
   * hosts parked in the warm pool, beside `total` (they take no part in a rollout until they leave the pool);
   * present only when there are some
   */
  warm?: number;
}

export interface RolloutRecord {
  revision: string;
  generation: number;
  startedAtMs: number;
  /** in-service hosts when the rollout started: the base of a percent maxUnavailable */
  inServiceAtStart: number;
  finishedAtMs?: number;
  /**
   * when maxFailures halted this rollout: the halt holds until a new generation (a retry, a new revision),
   * even once the hosts that caused it are gone (an abandoned launching host is terminated)
   */
  haltedAtMs?: number;
  /** the revision's size, when its manifest tells it (a published revision) */
  files?: number;
  bytes?: number;
  /** stepped rollouts only: the step running now (0-based; see state/steps.ts) and where it stands */
  step?: StepRecord;
}

export interface StepRecord {
  /** 0-based index into the rollout's steps; the last one is the rest of the fleet */
  index: number;
  /** the steps of this rollout, the final "rest of the fleet" one included */
  count: number;
  /** in-service hosts at the new revision once this step is done (cumulative) */
  hosts: number;
  startedAtMs: number;
  /** set once the step's hosts are in sync: then the pause, if any, runs until pauseUntilMs */
  doneAtMs?: number;
  pauseUntilMs?: number;
}

export interface FleetStatus {
  observedGeneration: number;
  /** the revision every live host has reached, when it has */
  revision?: string;
  lastAttemptedRevision?: string;
  hostCounts: HostCounts;
  conditions: Condition[];
  rollout?: RolloutRecord;
  /** reasons items of this fleet could not be read (a malformed item written by hand) */
  errors?: string[];
  updatedAtMs: number;
  /**
   * when the leader last confirmed this status (ISO 8601): refreshed at least once per resync even when nothing
   * changed, so an old one means no controller is acting on the fleet
   */
  observedAt?: string;
}

export interface FleetResource {
  apiVersion: typeof API_VERSION;
  kind: 'Fleet';
  metadata: { name: string; generation: number };
  spec: FleetSpec;
  status?: FleetStatus;
}
