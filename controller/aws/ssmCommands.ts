/**
 * Commands on AWS: SSM Run Command with the fleetsync document.
 *
 * - send: one SendCommand for at most 50 hosts (the caller batches), the attempt id in the comment.
 * - results: ListCommandInvocations (Details, paginated): one call per page of 50 hosts per command, never one
 *   per host; GetCommandInvocation only for a finished host whose result line is not in the short output.
 * - Right after SendCommand, SSM may not know the command's invocations yet (InvocationDoesNotExist,
 *   InvalidCommandId): that is retried a few times on the injected clock, then reported as pending.
 * - findByAttempt: ListCommands over the last `findWindowMs` (default 24 h: a leader that crashed between
 *   sending and recording is replaced within minutes; a day leaves room for a controller down overnight),
 *   filtered by document name, matched on the exact comment.
 */
import {
  CancelCommandCommand, GetCommandInvocationCommand, ListCommandInvocationsCommand, ListCommandsCommand,
  type CommandInvocation, SendCommandCommand, type SSMClient,
} from '@aws-sdk/client-ssm';
import { NotFoundError, TransientError } from '../errors.ts';
import { DEFAULT_DOCUMENT_NAME, ssmParameters } from '../hostProtocol.ts';
import type { Clock } from '../ports/clock.ts';
import {
  type Commands, type InvocationResult, MAX_TARGETS_PER_SEND, type SendArgs,
} from '../ports/commands.ts';
import { ValidationError } from '../../state/validate.ts';
import { callAws, type OnCall } from './callCounter.ts';
import { sdkErrorCode } from './sdkErrors.ts';
import { fromStdout, verdictOf } from './ssmInvocations.ts';

export const COMMENT_MAX_CHARS = 100;
/** SendCommand's TimeoutSeconds (time to start on the host) must be at least 30. */
const MIN_DELIVERY_TIMEOUT_SECONDS = 30;
/** Commands whose targets we keep, to report hosts SSM does not list yet as pending. */
const REMEMBERED_COMMANDS = 2000;

export interface SsmCommandsOptions {
  client: SSMClient;
  clock: Clock;
  /** default DEFAULT_DOCUMENT_NAME (fleetsync-sync) */
  documentName?: string;
  /**
   * The document parameter that sets the step's timeoutSeconds; null (the default) when the document has none.
   * fleetsync's own document (deploy/ssm/) has none: its step allows the longest time and the controller
   * cancels an attempt that outlives syncTimeoutSeconds.
   */
  executionTimeoutParameter?: string | null;
  /** SendCommand TimeoutSeconds: how long an offline agent may take to pick the command up (default 300). */
  deliveryTimeoutSeconds?: number;
  /** how far back findByAttempt looks (default 24 h) */
  findWindowMs?: number;
  /** retries of a not-yet-visible invocation right after sending (default 3), `notVisibleDelayMs` apart (1000) */
  notVisibleRetries?: number;
  notVisibleDelayMs?: number;
  /** how long after sending an unknown invocation still counts as "not visible yet" (default 60 s) */
  visibilityGraceMs?: number;
  onCall?: OnCall;
}

/**
 * `fleetsync <fleet> <attemptId>`, at most 100 characters: a long fleet name is shortened (and marked with ~)
 * so the attempt id, which findByAttempt matches on, is always whole.
 */
export function commandComment(fleet: string, attemptId: string): string {
  const full = `fleetsync ${fleet} ${attemptId}`;
  if (full.length <= COMMENT_MAX_CHARS) return full;
  const room = COMMENT_MAX_CHARS - 'fleetsync  ~'.length - attemptId.length;
  return `fleetsync ${fleet.slice(0, Math.max(0, room))}~ ${attemptId}`;
}

/** Whether an SSM comment is one of `fleet`'s (commandComment's form, the fleet maybe shortened with ~). */
function isCommentOf(comment: string | undefined, fleet: string): boolean {
  const match = /^fleetsync (\S+) \S+$/.exec(comment ?? '');
  if (!match) return false;
  const named = match[1]!;
  return named === fleet || (named.endsWith('~') && fleet.startsWith(named.slice(0, -1)));
}

const NOT_VISIBLE_CODES = new Set(['InvocationDoesNotExist', 'InvalidCommandId']);

function isNotVisible(error: unknown): boolean {
  return error instanceof Error && NOT_VISIBLE_CODES.has(sdkErrorCode(error.cause) ?? '');
}

/**
 * SendCommand has no idempotency token: a retry after a timeout or a 5xx can start a second command. This
 * command's own stack replaces the client's retry middleware (same name, override) with one that passes
 * through, so it is sent exactly once; the caller looks the attempt up (findByAttempt) after a failure.
 */
function withoutRetries(command: SendCommandCommand): void {
  command.middlewareStack.add((next) => (args) => next(args), {
    name: 'retryMiddleware', step: 'finalizeRequest', priority: 'high', override: true, tags: ['RETRY'],
  });
}

export class SsmCommands implements Commands {
  private readonly client: SSMClient;
  private readonly clock: Clock;
  private readonly documentName: string;
  private readonly executionTimeoutParameter: string | null;
  private readonly deliveryTimeoutSeconds: number;
  private readonly findWindowMs: number;
  private readonly notVisibleRetries: number;
  private readonly notVisibleDelayMs: number;
  private readonly visibilityGraceMs: number;
  private readonly onCall: OnCall | undefined;
  /** commandId → the hosts it targets and when we sent it (insertion order: oldest first) */
  private readonly sent = new Map<string, { instanceIds: string[]; sentAtMs: number }>();

  constructor(options: SsmCommandsOptions) {
    this.client = options.client;
    this.clock = options.clock;
    this.documentName = options.documentName ?? DEFAULT_DOCUMENT_NAME;
    this.executionTimeoutParameter = options.executionTimeoutParameter ?? null;
    this.deliveryTimeoutSeconds = Math.max(MIN_DELIVERY_TIMEOUT_SECONDS, options.deliveryTimeoutSeconds ?? 300);
    this.findWindowMs = options.findWindowMs ?? 24 * 3600_000;
    this.notVisibleRetries = options.notVisibleRetries ?? 3;
    this.notVisibleDelayMs = options.notVisibleDelayMs ?? 1000;
    this.visibilityGraceMs = options.visibilityGraceMs ?? 60_000;
    this.onCall = options.onCall;
  }

  async send(args: SendArgs): Promise<{ commandId: string }> {
    const { fleet, attemptId, mode, instanceIds, params, timeoutSeconds } = args;
    if (instanceIds.length === 0) throw new ValidationError(['send needs at least one instance id']);
    if (instanceIds.length > MAX_TARGETS_PER_SEND) {
      throw new ValidationError([`send got ${instanceIds.length} instance ids; SSM takes at most `
        + `${MAX_TARGETS_PER_SEND} per command: split them into batches`]);
    }
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
      throw new ValidationError([`timeoutSeconds must be a whole number of seconds, at least 1, got ${timeoutSeconds}`]);
    }
    const parameters = ssmParameters({ mode, params, attemptId });
    if (this.executionTimeoutParameter !== null) parameters[this.executionTimeoutParameter] = [String(timeoutSeconds)];
    const command = new SendCommandCommand({
      DocumentName: this.documentName,
      InstanceIds: instanceIds,
      Parameters: parameters,
      Comment: commandComment(fleet, attemptId),
      TimeoutSeconds: this.deliveryTimeoutSeconds,
      // The rollout policy decides how many hosts sync at once; SSM must not hold some back, nor stop the
      // rest after one failure (MaxErrors defaults to 0).
      MaxConcurrency: '100%',
      MaxErrors: '100%',
    });
    withoutRetries(command);
    const output = await callAws('SendCommand', this.onCall, () => this.client.send(command));
    const commandId = output.Command?.CommandId;
    if (commandId === undefined) throw new TransientError('SendCommand returned no command id');
    this.remember(commandId, instanceIds);
    return { commandId };
  }

  async results(commandId: string, signal?: AbortSignal): Promise<InvocationResult[]> {
    const invocations = await this.whenVisible(commandId, signal, () => this.listInvocations(commandId, signal));
    const out: InvocationResult[] = [];
    const listed = new Set<string>();
    for (const invocation of invocations ?? []) {
      const instanceId = invocation.InstanceId;
      if (instanceId === undefined) continue;
      listed.add(instanceId);
      const verdict = verdictOf(invocation);
      if (verdict.kind === 'done') {
        out.push(verdict.result);
        continue;
      }
      const full = await this.whenVisible(commandId, signal, () => callAws('GetCommandInvocation', this.onCall,
        () => this.client.send(new GetCommandInvocationCommand({
          CommandId: commandId, InstanceId: instanceId,
          ...(verdict.pluginName !== undefined ? { PluginName: verdict.pluginName } : {}),
        }), { abortSignal: signal })));
      if (full === undefined) {
        out.push({ instanceId, status: 'pending' });
        continue;
      }
      const exitCode = full.ResponseCode !== undefined && full.ResponseCode >= 0 ? full.ResponseCode : verdict.exitCode;
      out.push(fromStdout({
        instanceId, status: verdict.status, ...(exitCode !== undefined ? { exitCode } : {}),
        stdout: full.StandardOutputContent ?? '',
      }));
    }
    for (const instanceId of this.sent.get(commandId)?.instanceIds ?? []) {
      if (!listed.has(instanceId)) out.push({ instanceId, status: 'pending' });
    }
    return out;
  }

  async cancel(args: { commandId: string; instanceIds?: string[] }): Promise<void> {
    await callAws('CancelCommand', this.onCall, () => this.client.send(new CancelCommandCommand({
      CommandId: args.commandId,
      ...(args.instanceIds !== undefined && args.instanceIds.length > 0 ? { InstanceIds: args.instanceIds } : {}),
    })));
  }

  async cancelOrphans(args: { fleet: string; instanceId: string }): Promise<number> {
    let cancelled = 0;
    let nextToken: string | undefined;
    do {
      const page = await callAws('ListCommands', this.onCall, () => this.client.send(new ListCommandsCommand({
        InstanceId: args.instanceId,
        Filters: [
          { key: 'DocumentName', value: this.documentName },
          { key: 'ExecutionStage', value: 'Executing' },
        ],
        MaxResults: 50,
        NextToken: nextToken,
      })));
      for (const command of page.Commands ?? []) {
        if (command.CommandId === undefined || !isCommentOf(command.Comment, args.fleet)) continue;
        await this.cancel({ commandId: command.CommandId, instanceIds: [args.instanceId] });
        cancelled += 1;
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return cancelled;
  }

  async findByAttempt(args: { fleet: string; attemptId: string; sentAfterMs?: number }): Promise<string | null> {
    const comment = commandComment(args.fleet, args.attemptId);
    // The attempt's own start bounds the search (a minute early, for clock skew); a day at most.
    const fromMs = Math.max(this.clock.nowMs() - this.findWindowMs, (args.sentAfterMs ?? -Infinity) - 60_000);
    const invokedAfter = new Date(fromMs).toISOString();
    let nextToken: string | undefined;
    do {
      const page = await callAws('ListCommands', this.onCall, () => this.client.send(new ListCommandsCommand({
        Filters: [
          { key: 'DocumentName', value: this.documentName },
          { key: 'InvokedAfter', value: invokedAfter },
        ],
        MaxResults: 50,
        NextToken: nextToken,
      })));
      const match = (page.Commands ?? []).find((c) => c.Comment === comment && c.CommandId !== undefined);
      if (match?.CommandId !== undefined) return match.CommandId;
      nextToken = page.NextToken;
    } while (nextToken);
    return null;
  }

  private async listInvocations(commandId: string, signal?: AbortSignal): Promise<CommandInvocation[]> {
    const all: CommandInvocation[] = [];
    let nextToken: string | undefined;
    do {
      const page = await callAws('ListCommandInvocations', this.onCall, () => this.client.send(
        new ListCommandInvocationsCommand({ CommandId: commandId, Details: true, MaxResults: 50, NextToken: nextToken }),
        { abortSignal: signal }));
      all.push(...(page.CommandInvocations ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return all;
  }

  /**
   * Runs `call`, retrying while SSM does not know the command or invocation yet. Undefined when it still
   * does not after the retries but the command is one we sent moments ago (the caller reports pending);
   * NotFoundError otherwise.
   */
  private async whenVisible<T>(commandId: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isNotVisible(error)) throw error;
        if (attempt < this.notVisibleRetries) {
          await this.clock.sleep(this.notVisibleDelayMs, signal);
          continue;
        }
        const sent = this.sent.get(commandId);
        if (sent && this.clock.nowMs() - sent.sentAtMs < this.visibilityGraceMs) return undefined;
        throw new NotFoundError(`SSM does not know command ${commandId} (or one of its invocations): `
          + 'it may have expired (SSM keeps 30 days) or never been sent', { cause: error });
      }
    }
  }

  private remember(commandId: string, instanceIds: string[]): void {
    this.sent.set(commandId, { instanceIds: [...instanceIds], sentAtMs: this.clock.nowMs() });
    if (this.sent.size > REMEMBERED_COMMANDS) {
      const oldest = this.sent.keys().next().value;
      if (oldest !== undefined) this.sent.delete(oldest);
    }
  }
}
