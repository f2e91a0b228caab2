/**
 * One SSM command invocation → the Commands port's per-host result. Pure: SsmCommands does the calls.
 *
 * ListCommandInvocations keeps only the first 2,500 characters of a step's output (stdout, then stderr after
 * a marker). The host script's one result line comes first, so it is nearly always there; when it is not, or
 * it is cut, the caller fetches the full stdout with GetCommandInvocation and calls `fromFullOutput`.
 */
import type { CommandInvocation, CommandPlugin } from '@aws-sdk/client-ssm';
import { EXIT, RESULT_PREFIX, invocationFromOutput, parseResultLine } from '../hostProtocol.ts';
import type { InvocationResult, InvocationStatus } from '../ports/commands.ts';

/** Where SSM's combined step output switches from stdout to stderr. */
const STDERR_MARKER = '----------ERROR-------';

export type Verdict =
  | { kind: 'done'; result: InvocationResult }
  /** a finished invocation whose result line is not in the short output: read the full stdout */
  | { kind: 'needsFullOutput'; status: 'Success' | 'Failed'; exitCode?: number; pluginName?: string };

const PENDING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);

export function stdoutOf(output: string | undefined): string {
  if (output === undefined) return '';
  const at = output.indexOf(STDERR_MARKER);
  return at === -1 ? output : output.slice(0, at);
}

/** The step that printed the result line, else the last step that ran (the document has one). */
function mainPlugin(plugins: CommandPlugin[]): CommandPlugin | undefined {
  return plugins.find((p) => (p.Output ?? '').includes(RESULT_PREFIX))
    ?? [...plugins].reverse().find((p) => p.Status !== 'Pending' && p.Status !== undefined)
    ?? plugins[plugins.length - 1];
}

function result(instanceId: string, status: InvocationStatus, extra: Partial<InvocationResult> = {}): Verdict {
  return { kind: 'done', result: { instanceId, status, ...extra } };
}

/**
 * Reads a finished invocation's stdout (short or full) given its exit code. A success needs a well-formed
 * result line; a failure takes its reason from the line when there is one.
 */
export function fromStdout(args: {
  instanceId: string; status: 'Success' | 'Failed'; exitCode?: number; stdout: string;
}): InvocationResult {
  // SSM reports Success without a code only when the step exited 0.
  const exitCode = args.exitCode ?? (args.status === 'Success' ? EXIT.synced : undefined);
  return invocationFromOutput({ instanceId: args.instanceId, exitCode, stdout: args.stdout });
}

/** The verdict for one invocation from ListCommandInvocations (with Details). */
export function verdictOf(invocation: CommandInvocation): Verdict {
  const instanceId = invocation.InstanceId ?? 'unknown';
  const status = invocation.Status ?? 'Pending';
  const plugin = mainPlugin(invocation.CommandPlugins ?? []);
  const exitCode = plugin?.ResponseCode !== undefined && plugin.ResponseCode >= 0 ? plugin.ResponseCode : undefined;
  const code = exitCode !== undefined ? { exitCode } : {};
  const details = invocation.StatusDetails ?? plugin?.StatusDetails;

  if (PENDING.has(status)) return result(instanceId, 'pending');
  if (status === 'TimedOut') {
    return result(instanceId, 'timedOut', { ...code, error: `SSM reports ${details ?? 'TimedOut'}` });
  }
  if (status === 'Cancelled') return result(instanceId, 'cancelled', { ...code, error: 'the command was cancelled' });
  if (status !== 'Success' && status !== 'Failed') {
    return result(instanceId, 'failed', { ...code, error: `unknown SSM status ${status}` });
  }
  // Failed before the script ran (instance terminated, agent gone): there is no output to look for.
  if (status === 'Failed' && exitCode === undefined) {
    return result(instanceId, 'failed', { error: `SSM reports ${details ?? 'Failed'} before the host script ran` });
  }
  const stdout = stdoutOf(plugin?.Output);
  const parsed = parseResultLine(stdout);
  if (!parsed.ok && exitCode !== EXIT.busy) {
    return {
      kind: 'needsFullOutput', status, ...code,
      ...(plugin?.Name !== undefined ? { pluginName: plugin.Name } : {}),
    };
  }
  return { kind: 'done', result: fromStdout({ instanceId, status, ...code, stdout }) };
}
