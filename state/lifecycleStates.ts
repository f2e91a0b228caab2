/**
 * What an Auto Scaling lifecycle state means to fleetsync. Pure, shared by the state machine and the controller.
 *
 * With a warm pool, the group's launch hook holds an instance twice: in `Warmed:Pending:Wait` as it launches into
 * the pool (before it is stopped, hibernated or left running there), and again in `Pending:Wait` when it leaves the
 * pool for service. Each is a lifecycle action of its own, completed with CONTINUE.
 */

/** Held (or about to be held) by the launch hook: synced, then completed with CONTINUE. */
export const isLaunching = (lifecycleState: string): boolean =>
  lifecycleState === 'Pending' || lifecycleState === 'Pending:Wait'
  || lifecycleState === 'Warmed:Pending' || lifecycleState === 'Warmed:Pending:Wait';

/** Waiting on the launch hook now: the hook times out unless it is heartbeaten or completed. */
export const isHookWaiting = (lifecycleState: string): boolean =>
  lifecycleState === 'Pending:Wait' || lifecycleState === 'Warmed:Pending:Wait';

export const isLeaving = (lifecycleState: string): boolean => {
  const state = lifecycleState.startsWith('Warmed:') ? lifecycleState.slice('Warmed:'.length) : lifecycleState;
  return state.startsWith('Terminat') || state === 'Detaching' || state === 'Detached';
};

/** In the warm pool (any Warmed:* state): serves no traffic, whatever it runs. */
export const isWarm = (lifecycleState: string): boolean => lifecycleState.startsWith('Warmed:');

/**
 * The instance has left the warm pool for the group: a new lifecycle action (Pending:Wait) begins, and what it ran
 * when it went to sleep may no longer be what it must run now.
 */
export const leftWarmPool = (before: string, after: string): boolean => isWarm(before) && !isWarm(after);
