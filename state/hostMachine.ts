/**
 * The per-host state machine. Pure: it never does I/O and never reads a clock. Every event carries the time
 * it happened (`nowMs`), deadlines live in context (a persisted snapshot keeps no `after` timers), and the
 * effects it asks for are named actions that the controller supplies with `machine.provide(...)`.
 */
import { assign, createActor, enqueueActions, setup, type ExecutableActionsFrom, type SnapshotFrom } from 'xstate';
import { backoffMs } from './backoff.ts';
import type { HostContext, HostRecord, HostState } from './host.ts';
import { isLaunching, isWarm, leftWarmPool } from './lifecycleStates.ts';

/** Settings from the fleet's spec and the controller's config, carried on every observation. */
export interface HostPolicy {
  maxAttempts: number;
  syncTimeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** how long a new instance may take to register its command agent */
  agentWaitMs: number;
  /** deregister from the load balancer before syncing */
  drain: boolean;
}

export type HostEvent =
  | {
    type: 'OBSERVE'; nowMs: number; lifecycleState: string; launching: boolean; agentOnline: boolean;
    desiredRevision: string; policy: HostPolicy; retryRequestId: string | null;
  }
  | { type: 'TICK'; nowMs: number; random: number }
  | { type: 'RESUME'; nowMs: number }
  | { type: 'PROBED'; nowMs: number; revision: string | null }
  | { type: 'PROBE_FAILED'; nowMs: number; error: string }
  | { type: 'GRANT'; nowMs: number; targetRevision: string }
  | { type: 'ATTEMPT_STARTED'; nowMs: number; attemptId: string }
  | { type: 'SENT'; nowMs: number; commandId: string }
  | { type: 'SEND_FAILED'; nowMs: number; error: string; random: number }
  | { type: 'RESULT'; nowMs: number; outcome: 'success' | 'failed' | 'busy'; revision: string | null; error: string | null; random: number }
  | { type: 'DRAINED'; nowMs: number }
  | { type: 'RESTORED'; nowMs: number }
  | { type: 'CANCELLED'; nowMs: number }
  | { type: 'LIFECYCLE_DONE'; nowMs: number }
  | { type: 'GONE'; nowMs: number };

export interface HostInput {
  instanceId: string;
  nowMs: number;
}

const BUSY_RETRY_MS = 5_000;
/**
 * Busy answers in a row given back before one spends the attempt: a lock held outside fleetsync (or an orphan
 * command that cannot be cancelled) must not keep a host retried for ever.
 */
export const MAX_BUSY_REFUNDS = 5;
const DEFAULT_POLICY: HostPolicy = {
  maxAttempts: 3, syncTimeoutMs: 900_000, backoffBaseMs: 10_000, backoffCapMs: 300_000, agentWaitMs: 600_000, drain: false,
};

type Ctx = HostContext & { policy: HostPolicy };
const observed = (context: Ctx): boolean => context.desiredRevision !== null;
/**
 * In the warm pool with no launch hook of ours open: stopped or hibernated hosts cannot run a command, and none of
 * them serves traffic, so they wait out rollouts there.
 */
const parked = (context: Ctx): boolean => isWarm(context.lifecycleState) && !context.launching;

const now = (event: HostEvent): number => event.nowMs;
const randomOf = (event: HostEvent): number => ('random' in event ? event.random : 0.5);

export const hostMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as HostEvent,
    input: {} as HostInput,
  },
  actions: {
    // Effects: the controller supplies these with provide(); here they only name what must happen.
    requestProbe: () => {},
    requestSync: () => {},
    resumeAttempt: () => {},
    cancelCommand: () => {},
    completeLifecycle: (_, _params: { result: 'CONTINUE' | 'ABANDON' }) => {},
    quarantine: () => {},
    deregister: () => {},
    register: () => {},
    hostFailed: () => {},

    observe: assign(({ context, event }) => {
      if (event.type !== 'OBSERVE') return {};
      // Out of the warm pool: a new lifecycle action holds it, and the revision it went to sleep with is not
      // trusted (the desired one may have moved meanwhile, and its disk is not ours to vouch for): synced again.
      if (leftWarmPool(context.lifecycleState, event.lifecycleState)) {
        return {
          lifecycleState: event.lifecycleState, launching: event.launching, lifecycleCompleted: false,
          reportedRevision: null, attempt: 0, refunds: 0, deadlineMs: null,
          desiredRevision: event.desiredRevision, policy: event.policy, agentOnline: event.agentOnline,
          retryRequestId: event.retryRequestId,
        };
      }
      // Back into the pool from service (scale-in with an instance reuse policy): the group holds it for its
      // terminating hook, not our launch hook, so there is nothing of ours to complete; it is parked.
      const returned = observed(context) && !isWarm(context.lifecycleState) && !isLaunching(context.lifecycleState)
        && isWarm(event.lifecycleState);
      const lifecycleCompleted = context.lifecycleCompleted || returned;
      return {
        lifecycleState: event.lifecycleState,
        lifecycleCompleted,
        launching: event.launching && !lifecycleCompleted,
        desiredRevision: event.desiredRevision,
        policy: event.policy,
        agentOnline: event.agentOnline,
        retryRequestId: event.retryRequestId,
      };
    }),
    acceptRetry: assign(({ event }) => ({
      retryRequestId: event.type === 'OBSERVE' ? event.retryRequestId : null,
      attempt: 0, failedRevision: null, lastError: null, refunds: 0,
    })),
    forgetFailure: assign({ attempt: 0, failedRevision: null, refunds: 0 }),
    /** the effect: cancel the commands of this fleet still running on the host (they hold its lock) */
    cancelOrphans: () => {},
    countRefund: assign(({ context }) => ({ refunds: (context.refunds ?? 0) + 1 })),
    /** a command ran to its end: the host was reachable and free */
    resetRefunds: assign({ refunds: 0 }),
    setAgentDeadline: assign(({ context, event }) => ({ deadlineMs: now(event) + context.policy.agentWaitMs })),
    agentTimedOut: assign(({ context }) => ({
      lastError: `the command agent did not come online within ${Math.round(context.policy.agentWaitMs / 1000)}s`,
      failedRevision: context.desiredRevision, deadlineMs: null,
    })),
    probed: assign(({ event }) => (event.type === 'PROBED' ? { reportedRevision: event.revision } : {})),
    grant: assign(({ context, event }) => {
      if (event.type !== 'GRANT') return {};
      const sameTarget = event.targetRevision === context.targetRevision;
      return {
        targetRevision: event.targetRevision,
        attempt: sameTarget ? context.attempt + 1 : 1,
        refunds: sameTarget ? (context.refunds ?? 0) : 0,
        attemptId: null, commandId: null, deadlineMs: null, lastError: null,
      };
    }),
    attemptStarted: assign(({ context, event }) => (event.type === 'ATTEMPT_STARTED'
      ? { attemptId: event.attemptId, deadlineMs: event.nowMs + context.policy.syncTimeoutMs } : {})),
    sent: assign(({ event }) => (event.type === 'SENT' ? { commandId: event.commandId } : {})),
    drained: assign({ deregistered: true }),
    restored: assign({ deregistered: false }),
    succeeded: assign(({ event }) => (event.type === 'RESULT'
      ? { reportedRevision: event.revision ?? null, deadlineMs: null, lastError: null } : {})),
    recordError: assign(({ context, event }) => {
      let lastError: string;
      if (event.type === 'RESULT' && event.outcome !== 'success') lastError = event.error ?? `sync ${event.outcome}`;
      else if (event.type === 'SEND_FAILED' || event.type === 'PROBE_FAILED') lastError = event.error;
      else if (context.deadlineMs !== null && now(event) >= context.deadlineMs) {
        lastError = `attempt timed out after ${Math.round(context.policy.syncTimeoutMs / 1000)}s`;
      } else {
        lastError = `host reports ${context.reportedRevision ?? 'no revision'} after syncing to ${context.targetRevision}`;
      }
      return { lastError };
    }),
    /** sending failed or the host was busy: nothing ran, so the attempt is not spent */
    refundAttempt: assign(({ context }) => ({ attempt: Math.max(0, context.attempt - 1) })),
    scheduleBackoff: assign(({ context, event }) => {
      const busy = event.type === 'RESULT' && event.outcome === 'busy';
      // Given-back attempts count too, so repeated send failures and busy answers back off further each time.
      const refunds = context.refunds ?? 0;
      const delay = busy ? Math.min(context.policy.backoffCapMs, BUSY_RETRY_MS * 2 ** Math.min(Math.max(0, refunds - 1), 20)) : backoffMs({
        attempt: Math.max(1, context.attempt + refunds), baseMs: context.policy.backoffBaseMs,
        capMs: context.policy.backoffCapMs, random: randomOf(event),
      });
      return { deadlineMs: now(event) + delay, attemptId: null, commandId: null };
    }),
    markFailed: assign(({ context }) => ({
      failedRevision: context.targetRevision ?? context.desiredRevision, deadlineMs: null, attemptId: null, commandId: null,
    })),
    lifecycleDone: assign({ lifecycleCompleted: true, launching: false }),
    clearDeadline: assign({ deadlineMs: null }),
    stamp: assign(({ event }) => ({ sinceMs: event.nowMs })),
  },
  guards: {
    agentOffline: ({ context }) => !context.agentOnline,
    launching: ({ context }) => context.launching,
    parked: ({ context }) => parked(context),
    pastDeadline: ({ context, event }) => context.deadlineMs !== null && now(event) >= context.deadlineMs,
    atDesired: ({ context }) => context.desiredRevision !== null && context.reportedRevision === context.desiredRevision,
    needsLifecycle: ({ context }) => context.launching && !context.lifecycleCompleted,
    reportsTarget: ({ context }) => context.targetRevision !== null && context.reportedRevision === context.targetRevision,
    attemptsLeft: ({ context }) => context.attempt < context.policy.maxAttempts,
    drain: ({ context }) => context.policy.drain && !context.launching,
    deregistered: ({ context }) => context.deregistered,
    newRetryRequest: ({ context, event }) => event.type === 'OBSERVE' && event.retryRequestId !== null
      && event.retryRequestId !== context.retryRequestId,
    desiredMovedOn: ({ context }) => !context.launching && context.desiredRevision !== null
      && context.failedRevision !== null && context.desiredRevision !== context.failedRevision,
    commandRunning: ({ context }) => context.commandId !== null,
    // A launching host may be granted what the fleet last reached; verifying keeps it from going into service
    // at anything but its desired revision.
    staleGrant: ({ context, event }) => event.type === 'GRANT' && !context.launching
      && event.targetRevision !== context.desiredRevision,
  },
}).createMachine({
  id: 'host',
  initial: 'discovered',
  context: ({ input }) => ({
    instanceId: input.instanceId,
    lifecycleState: 'Pending',
    launching: false,
    lifecycleCompleted: false,
    agentOnline: false,
    reportedRevision: null,
    desiredRevision: null,
    targetRevision: null,
    attempt: 0,
    attemptId: null,
    commandId: null,
    deadlineMs: null,
    lastError: null,
    failedRevision: null,
    retryRequestId: null,
    deregistered: false,
    refunds: 0,
    sinceMs: input.nowMs,
    policy: DEFAULT_POLICY,
  }),
  on: {
    OBSERVE: { actions: 'observe' },
    GONE: { target: '.gone', actions: 'stamp' },
    // A drained host stays out of service (and counted unavailable) until its registration is confirmed.
    RESTORED: { actions: 'restored' },
    // After a restart or a failed registration, the registration is owed again.
    RESUME: { guard: 'deregistered', actions: 'register' },
  },
  // An attempt that ends without success gives a drained host back to its target groups (the inline
  // enqueueActions: an action defined in setup cannot name another one there).
  states: {
    discovered: {
      // Waits for its first observation, then routes at once.
      always: [
        { guard: ({ context }) => observed(context) && parked(context), target: 'warm', actions: 'stamp' },
        { guard: ({ context }) => observed(context) && !context.agentOnline, target: 'waitingForAgent',
          actions: ['setAgentDeadline', 'stamp'] },
        { guard: ({ context }) => observed(context) && context.launching, target: 'queued', actions: 'stamp' },
        { guard: ({ context }) => observed(context), target: 'probing', actions: 'stamp' },
      ],
    },
    waitingForAgent: {
      always: [
        { guard: 'parked', target: 'warm', actions: ['clearDeadline', 'stamp'] },
        { guard: ({ context }) => context.agentOnline && context.launching, target: 'queued', actions: ['clearDeadline', 'stamp'] },
        { guard: ({ context }) => context.agentOnline, target: 'probing', actions: ['clearDeadline', 'stamp'] },
        { guard: 'pastDeadline', target: 'failed', actions: ['agentTimedOut', 'stamp'] },
      ],
    },
    probing: {
      entry: 'requestProbe',
      on: {
        RESUME: { target: 'probing', reenter: true },
        PROBED: { target: 'idle', actions: ['probed', 'stamp'] },
        // A revision we cannot learn is synced: the sync is idempotent and reports the revision.
        PROBE_FAILED: { target: 'queued', actions: ['recordError', 'stamp'] },
      },
    },
    idle: {
      always: [
        { guard: 'deregistered', target: 'restoring', actions: 'stamp' },
        { guard: 'parked', target: 'warm', actions: 'stamp' },
        { guard: 'atDesired', target: 'inSync' },
        { target: 'queued' },
      ],
    },
    inSync: {
      always: [
        { guard: 'parked', target: 'warm', actions: 'stamp' },
        { guard: 'needsLifecycle', target: 'completing', actions: 'stamp' },
        { guard: ({ context }) => context.desiredRevision !== null && !(context.reportedRevision === context.desiredRevision),
          target: 'queued', actions: 'stamp' },
      ],
    },
    completing: {
      entry: { type: 'completeLifecycle', params: { result: 'CONTINUE' } },
      // The revision meant for it moved on before the group let it in: synced again first.
      always: [{ guard: ({ context }) => context.desiredRevision !== null && context.reportedRevision !== context.desiredRevision,
        target: 'queued', actions: 'stamp' }],
      on: {
        RESUME: { target: 'completing', reenter: true },
        LIFECYCLE_DONE: { target: 'idle', actions: ['lifecycleDone', 'stamp'] },
      },
    },
    queued: {
      always: [
        { guard: 'parked', target: 'warm', actions: 'stamp' },
        { guard: 'atDesired', target: 'idle', actions: 'stamp' },
      ],
      on: {
        GRANT: [
          // A grant from a plan older than the host's last observation (another revision) is not taken.
          { guard: 'staleGrant' },
          { guard: 'drain', target: 'draining', actions: ['grant', 'stamp'] },
          { target: 'syncing', actions: ['grant', 'stamp'] },
        ],
      },
    },
    draining: {
      entry: 'deregister',
      on: {
        RESUME: { target: 'draining', reenter: true },
        DRAINED: { target: 'syncing', actions: ['drained', 'stamp'] },
      },
    },
    syncing: {
      entry: 'requestSync',
      always: [{ guard: 'pastDeadline', target: 'cancelling', actions: ['recordError'] }],
      on: {
        RESUME: { actions: 'resumeAttempt' },
        ATTEMPT_STARTED: { actions: 'attemptStarted' },
        SENT: { actions: 'sent' },
        SEND_FAILED: {
          target: 'backoff', actions: ['recordError', 'refundAttempt', 'countRefund', 'scheduleBackoff', enqueueActions(({ context, enqueue }) => { if (context.deregistered) enqueue('register'); }), 'stamp'],
        },
        RESULT: [
          { guard: ({ event }) => event.outcome === 'success', target: 'verifying', actions: ['succeeded', 'resetRefunds', 'stamp'] },
          // Busy: another command holds the host's lock. Commands of this fleet still running there are orphans
          // (an earlier leader's, or a send that looked failed): they are cancelled, and the sync tried again.
          { guard: ({ context, event }) => event.outcome === 'busy' && (context.refunds ?? 0) < MAX_BUSY_REFUNDS, target: 'backoff',
            actions: ['recordError', 'refundAttempt', 'countRefund', 'scheduleBackoff', 'cancelOrphans', enqueueActions(({ context, enqueue }) => { if (context.deregistered) enqueue('register'); }), 'stamp'] },
          { guard: ({ event }) => event.outcome === 'busy', target: 'attemptFailed', actions: ['recordError', 'cancelOrphans'] },
          { target: 'attemptFailed', actions: ['recordError', 'resetRefunds'] },
        ],
        GONE: { target: 'gone', actions: ['cancelCommand', 'stamp'] },
      },
    },
    verifying: {
      always: [
        { guard: ({ context }) => context.targetRevision !== null && context.reportedRevision === context.targetRevision
          && context.deregistered, target: 'restoring', actions: 'stamp' },
        { guard: 'reportsTarget', target: 'idle', actions: 'stamp' },
        { target: 'attemptFailed', actions: 'recordError' },
      ],
    },
    restoring: {
      entry: 'register',
      on: {
        RESUME: { target: 'restoring', reenter: true },
        RESTORED: { target: 'idle', actions: ['restored', 'stamp'] },
      },
    },
    // An attempt past its deadline: its command is cancelled before the host's slot is given back, or the
    // command would go on holding the host (out of service, and answering every retry busy).
    cancelling: {
      entry: 'cancelCommand',
      on: {
        RESUME: { target: 'cancelling', reenter: true },
        CANCELLED: { target: 'attemptFailed' },
      },
    },
    // Transient: decides between another attempt and giving up.
    attemptFailed: {
      always: [
        { guard: 'attemptsLeft', target: 'backoff', actions: ['scheduleBackoff', enqueueActions(({ context, enqueue }) => { if (context.deregistered) enqueue('register'); }), 'stamp'] },
        { target: 'failed', actions: ['markFailed', enqueueActions(({ context, enqueue }) => { if (context.deregistered) enqueue('register'); }), 'stamp'] },
      ],
    },
    backoff: {
      always: [
        { guard: 'parked', target: 'warm', actions: ['clearDeadline', 'stamp'] },
        { guard: 'pastDeadline', target: 'queued', actions: ['clearDeadline', 'stamp'] },
      ],
    },
    // Parked in the warm pool: nothing is sent to it and it takes no slot. When it leaves the pool (a new launch
    // hook holds it in Pending:Wait) it starts over as a new host would, and is synced before CONTINUE.
    warm: {
      always: [{ guard: ({ context }) => !parked(context), target: 'discovered', actions: 'stamp' }],
    },
    failed: {
      // A launching host that cannot be synced is abandoned (the group replaces it); an in-service one is
      // quarantined: left serving its old revision, out of the rollout, until a retry or a new revision.
      entry: enqueueActions(({ context, enqueue }) => {
        enqueue('hostFailed');
        if (context.launching) enqueue({ type: 'completeLifecycle', params: { result: 'ABANDON' } });
        else enqueue('quarantine');
      }),
      on: {
        // After a restart (or a failed ABANDON) only the lifecycle action is owed again: the failure itself was
        // recorded when the host entered this state.
        RESUME: { guard: 'launching', actions: { type: 'completeLifecycle', params: { result: 'ABANDON' } } },
        OBSERVE: [
          { guard: 'newRetryRequest', target: 'queued', actions: ['observe', 'acceptRetry', 'stamp'] },
          { actions: 'observe' },
        ],
      },
      always: [{ guard: 'desiredMovedOn', target: 'queued', actions: ['forgetFailure', 'stamp'] }],
    },
    gone: { type: 'final' },
  },
});

export type HostMachine = typeof hostMachine;
export type HostSnapshot = SnapshotFrom<HostMachine>;

/** The persisted form of a snapshot: the state name and the context. */
export function toRecord(snapshot: HostSnapshot): HostRecord {
  const { policy: _policy, ...context } = snapshot.context;
  return { instanceId: context.instanceId, state: snapshot.value as HostState, context };
}

/** Restores a persisted record; a restored machine keeps its deadlines, since they live in context. */
export function fromRecord(machine: HostMachine, record: HostRecord, policy: HostPolicy = DEFAULT_POLICY): HostSnapshot {
  return machine.resolveState({
    value: record.state,
    context: { ...record.context, policy },
  });
}

type Scope = Parameters<HostMachine['transition']>[2];
let inertScope: Scope | null = null;
let executed: Array<ExecutableActionsFrom<HostMachine>> = [];

/**
 * xstate's pure transition(snapshot, event) → [next, actions], with one inert actor scope for every call: xstate's
 * own builds a whole actor per call, initial snapshot included, which was a fifth of a reconcile pass's CPU.
 * Sharing one is safe: the machine invokes and spawns nothing, and a transition runs synchronously to its end.
 */
export function transition(machine: HostMachine, snapshot: HostSnapshot, event: HostEvent): [HostSnapshot, Array<ExecutableActionsFrom<HostMachine>>] {
  if (machine !== hostMachine) throw new TypeError('transition() serves the host machine only');
  if (inertScope === null) {
    const self = createActor(hostMachine, { input: { instanceId: 'i-00000000000000000', nowMs: 0 } });
    inertScope = {
      self, defer: () => {}, id: '', logger: () => {}, sessionId: '', stopChild: () => {}, system: self.system, emit: () => {},
      actionExecutor: (action) => {
        executed.push(action as ExecutableActionsFrom<HostMachine>);
      },
    } as Scope;
  }
  executed = [];
  const next = hostMachine.transition(snapshot, event, inertScope);
  const actions = executed;
  executed = [];
  return [next, actions];
}
