/**
 * The controller's configuration: environment, an optional file (JSON or YAML) and flags, validated with zod.
 * Messages name the bad key and say what is allowed. Precedence: flags, then environment, then the file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PATTERNS } from '../state/validate.ts';
import { ConfigError } from './errors.ts';

/** https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or an emulator's http://host:port/ACCOUNT/NAME */
const SQS_QUEUE_URL = /^https?:\/\/[A-Za-z0-9.:-]+\/[0-9]{12}\/[A-Za-z0-9_-]{1,80}$/;
const QUEUE_URL_EXAMPLE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/fleetsync-launches';
const QUEUE_URL_HINT = `must be an SQS queue URL like ${QUEUE_URL_EXAMPLE}`;

const seconds = (max: number) => z.number({ error: 'must be a number of seconds' }).positive('must be more than 0').max(max, `must be at most ${max}`);

export const ConfigSchema = z.object({
  /** set: AWS mode (DynamoDB table); unset: the embedded default (design Contract) */
  table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name: 3-255 letters, digits, _ . -').optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like eu-west-1').optional(),
  /** only these fleets (all when empty) */
  fleets: z.array(z.string().regex(PATTERNS.fleetName, 'must be a fleet name like web-prod')).default([]),
  resyncSeconds: seconds(3600).default(30),
  /** default: 5 in AWS mode, 1 on the embedded default (local syncs take a second, not a minute) */
  pollSeconds: seconds(3600).optional(),
  /** hosts worked on at once per fleet */
  concurrency: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(64),
  httpPort: z.number().int('must be a whole number').min(0, 'must be 0-65535').max(65535, 'must be 0-65535').default(9870),
  /** default: 127.0.0.1 for the embedded default, all interfaces in AWS mode (a container) */
  httpHost: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address like 0.0.0.0 or 127.0.0.1').optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  leaseDurationSeconds: seconds(600).default(15),
  renewDeadlineSeconds: seconds(600).default(10),
  retryPeriodSeconds: seconds(60).default(2),
  /** the SSM command document (deploy/ssm/) */
  documentName: z.string().regex(/^[a-zA-Z0-9_.-]{3,128}$/, 'must be an SSM document name (3-128 letters, digits, _ . -)').default('fleetsync-sync'),
  /** /healthz fails when the control loop has not turned for this long */
  stuckAfterSeconds: seconds(3600).default(120),
  /** the embedded default's folder */
  home: z.string().default('./.fleetsync'),
  /**
   * Auto Scaling group → the URL of its launch-event SQS queue (the stack sets it): a fleet of that group learns
   * of launches at once; a group without one waits for the resync
   */
  launchQueues: z.record(
    z.string().regex(PATTERNS.asgName, 'keys must be Auto Scaling group names'),
    z.string({ error: QUEUE_URL_HINT }).regex(SQS_QUEUE_URL, QUEUE_URL_HINT),
    { error: `must be a JSON object of Auto Scaling group name to queue URL, like {"web-asg":"${QUEUE_URL_EXAMPLE}"}` },
  ).default({}),
}).strict().refine((c) => c.renewDeadlineSeconds < c.leaseDurationSeconds, {
  message: 'must be shorter than leaseDurationSeconds, so a leader stops before its lease can expire',
  path: ['renewDeadlineSeconds'],
});

export type ControllerConfig = z.infer<typeof ConfigSchema>;

/** Environment variables and the keys they set. */
const ENV_KEYS: Array<[string, keyof ControllerConfig, 'string' | 'number' | 'list' | 'json']> = [
  ['FLEETSYNC_TABLE', 'table', 'string'],
  ['AWS_REGION', 'region', 'string'],
  ['FLEETSYNC_FLEETS', 'fleets', 'list'],
  ['FLEETSYNC_RESYNC_SECONDS', 'resyncSeconds', 'number'],
  ['FLEETSYNC_POLL_SECONDS', 'pollSeconds', 'number'],
  ['FLEETSYNC_CONCURRENCY', 'concurrency', 'number'],
  ['FLEETSYNC_HTTP_PORT', 'httpPort', 'number'],
  ['FLEETSYNC_HTTP_HOST', 'httpHost', 'string'],
  ['FLEETSYNC_LOG_LEVEL', 'logLevel', 'string'],
  ['FLEETSYNC_DOCUMENT_NAME', 'documentName', 'string'],
  ['FLEETSYNC_HOME', 'home', 'string'],
  ['FLEETSYNC_LAUNCH_QUEUES', 'launchQueues', 'json'],
];

function fromEnv(env: Record<string, string | undefined>): { values: Record<string, unknown>; names: Map<string, string> } {
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const [name, key, kind] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    names.set(key, name);
    if (kind === 'number') values[key] = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
    else if (kind === 'list') values[key] = raw.split(',').map((s) => s.trim()).filter(Boolean);
    else if (kind === 'json') values[key] = jsonOrText(raw);
    else values[key] = raw;
  }
  return { values, names };
}

/** Parsed when it is JSON; else the text itself, which the schema then refuses with its own message. */
function jsonOrText(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

async function fromFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = path.extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`the config file ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`, { cause: error });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`the config file ${file} must hold an object of settings`);
  return value as Record<string, unknown>;
}

/** Builds the configuration; throws ConfigError naming every bad key (and the variable or file that set it). */
export async function loadConfig(options: {
  env: Record<string, string | undefined>;
  file?: string;
  flags?: Partial<Record<keyof ControllerConfig, unknown>>;
}): Promise<ControllerConfig> {
  const file = options.file ?? options.env.FLEETSYNC_CONFIG;
  const fileValues = file ? await fromFile(file) : {};
  const env = fromEnv(options.env);
  const flags = Object.fromEntries(Object.entries(options.flags ?? {}).filter(([, v]) => v !== undefined));
  const merged = { ...fileValues, ...env.values, ...flags };
  const parsed = ConfigSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(config)';
    const top = String(issue.path[0] ?? '');
    const origin = top in flags ? `flag --${top.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
      : env.names.has(top) ? env.names.get(top)! : file && top in fileValues ? `${file}` : 'config';
    if (issue.code === 'unrecognized_keys') {
      return `${origin}: unknown setting(s) ${issue.keys.join(', ')} (known: ${Object.keys(ConfigSchema.shape).join(', ')})`;
    }
    return `${key} (from ${origin}): ${issue.message}`;
  });
  throw new ConfigError(`bad configuration:\n  - ${problems.join('\n  - ')}`);
}
