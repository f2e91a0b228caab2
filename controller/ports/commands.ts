/** Commands on hosts (SSM Run Command): start a sync or probe on a batch, read results per command. */

/** SSM SendCommand takes at most 50 instance ids per call. */
export const MAX_TARGETS_PER_SEND = 50;

export type CommandMode = 'sync' | 'probe';

/** The host script's parameters, already validated (state/validate.ts), never spliced into a shell. */
export interface SyncParams {
  source: string;
  revision: string;
  destination: string;
  strategy: 'release' | 'inplace';
  excludes: string[];
  links: Record<string, string>;
  checkCommand?: string;
  /** the user the check runs as on the host (absent: the agent's own, root); only with checkCommand */
  checkUser?: string;
  keepReleases: number;
}

export interface SendArgs {
  fleet: string;
  /** travels in the command (SSM's comment) so a crashed leader's command can be found */
  attemptId: string;
  mode: CommandMode;
  instanceIds: string[];
  params: SyncParams;
  timeoutSeconds: number;
}

/** The host script's one stdout line: `FLEETSYNC-RESULT {json}`. */
export interface HostResult {
  revision: string | null;
  strategy?: string;
  status: string;
  /** files of the new release that changed (written or replaced), and their bytes */
  files?: number;
  bytes?: number;
  /** published revisions only: objects downloaded, and their bytes */
  downloadedFiles?: number;
  downloadedBytes?: number;
  /** published revisions only: files of the new release whose content was already on the host, and their bytes */
  reusedFiles?: number;
  reusedBytes?: number;
  /** files whose content the host hashed in this sync (0 for a rollback to a kept release as it was placed) */
  hashedFiles?: number;
  seconds?: number;
  log?: string;
  error?: string;
}

export type InvocationStatus = 'pending' | 'success' | 'failed' | 'busy' | 'timedOut' | 'cancelled';

export interface InvocationResult {
  instanceId: string;
  status: InvocationStatus;
  exitCode?: number;
  result?: HostResult;
  /** why it failed, from the host script's result line when there is one */
  error?: string;
}

export interface Commands {
  /** One command for at most MAX_TARGETS_PER_SEND hosts. */
  send(args: SendArgs): Promise<{ commandId: string }>;
  /** Per-host status of one command (paginated inside), not one call per host. */
  results(commandId: string, signal?: AbortSignal): Promise<InvocationResult[]>;
  cancel(args: { commandId: string; instanceIds?: string[] }): Promise<void>;
  /**
   * The command sent for an attempt, when a crash or a failed send came between sending it and recording its
   * id. `sentAfterMs`, when known (the attempt was recorded then), narrows the search.
   */
  findByAttempt(args: { fleet: string; attemptId: string; sentAfterMs?: number }): Promise<string | null>;
  /**
   * Cancels this fleet's commands still running on one host (orphans: an earlier leader's, or one whose send
   * looked failed) so they stop holding its lock. Returns how many it cancelled. Optional: an adapter whose
   * commands cannot outlive their controller has none.
   */
  cancelOrphans?(args: { fleet: string; instanceId: string }): Promise<number>;
}
