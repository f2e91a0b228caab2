/**
 * Generates the SSM command document deploy/ssm/fleetsync-sync.json from deploy/host/fleetsync-sync.sh:
 * the script travels inside the document, and each parameter's allowedPattern is the script's own
 * validation pattern. Regenerate after changing the script: `npx tsx deploy/ssm/document.ts`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { tarball } from './tarball.ts';
import { PARAMETER_FLAGS, type ParameterName } from '../../controller/hostProtocol.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SCRIPT_PATH = join(HERE, '..', 'host', 'fleetsync-sync.sh');
export const AGENT_DIR = join(HERE, '..', 'host', 'fleetsync_agent');
/** The module that holds the agent's validation patterns and folder lists. */
export const AGENT_COMMON = 'common.py';

/** The agent's modules, by file name, in name order. */
export function readAgent(dir: string = AGENT_DIR): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((name) => name.endsWith('.py')).sort()
    .map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}
export const DOCUMENT_PATH = join(HERE, 'fleetsync-sync.json');
/** SSM's limit on a command document's content. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
/** The longest runShellScript allows; the controller cancels a command long before (syncTimeoutSeconds). */
export const EXECUTION_TIMEOUT_SECONDS = 172_800;
export const SCRIPT_END_MARKER = 'FLEETSYNC_SCRIPT_END';

/** The agent's `RE_NAME = r'pattern'` lines: its validation patterns. */
export function scriptPatterns(agent: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of agent.matchAll(/^(RE_[A-Z0-9_]+) = r'([^']*)'$/gm)) {
    found[match[1] as string] = match[2] as string;
  }
  return found;
}

/** The agent's `NAME = ('/a', '/b')` tuple of paths. */
export function scriptPathList(agent: string, name: string): string[] {
  const match = new RegExp(`^${name} = \\(([^)]*)\\)`, 'm').exec(agent);
  return [...(match?.[1] ?? '').matchAll(/'([^']*)'/g)].map((m) => m[1] as string);
}

function required(patterns: Record<string, string>, name: string): string {
  const pattern = patterns[name];
  if (pattern === undefined) throw new Error(`the host script defines no ${name}`);
  return pattern;
}

function inner(pattern: string): string {
  return pattern.replace(/^\^/, '').replace(/\$$/, '');
}

/** A comma-separated list of items matching `item` (anchored), possibly empty. */
export function listPattern(item: string): string {
  return `^(${inner(item)}(,${inner(item)})*)?$`;
}

/** The pattern, or an empty string. */
export function optionalPattern(pattern: string): string {
  return `^(${inner(pattern)})?$`;
}

export function allowedPatterns(script: string): Record<ParameterName, string> {
  const p = scriptPatterns(script);
  const re = (name: string) => required(p, name);
  return {
    mode: re('RE_MODE'),
    // file:// sources exist for the local fleet: a host reached through SSM syncs from S3 only
    source: re('RE_S3_SOURCE'),
    revision: re('RE_REVISION'),
    destination: re('RE_DESTINATION'),
    strategy: re('RE_STRATEGY'),
    excludes: listPattern(re('RE_EXCLUDE')),
    links: listPattern(`${inner(re('RE_LINK_NAME'))}=${inner(re('RE_DESTINATION'))}`),
    checkCommand: optionalPattern(re('RE_CHECK_COMMAND')),
    checkUser: optionalPattern(re('RE_CHECK_USER')),
    keepReleases: re('RE_KEEP_RELEASES'),
    attemptId: re('RE_ATTEMPT_ID'),
  };
}

const PARAMETER_TEXT: Record<ParameterName, { description: string; default?: string }> = {
  mode: { description: 'sync: bring the destination to the revision; probe: only report the revision it holds', default: 'sync' },
  source: { description: 'Where revisions live: s3://bucket/prefix (the revision is <source>/<revision>/)' },
  revision: { description: 'The revision to sync (like a git sha)' },
  destination: { description: 'The folder that holds the codebase on the host (like /var/www/app)' },
  strategy: { description: 'release: <destination>/releases/<revision> and an atomic <destination>/current link; inplace: sync straight into <destination>', default: 'release' },
  excludes: { description: 'Comma-separated patterns never copied, deleted or changed on the host', default: 'media/*,var/*' },
  links: { description: 'Comma-separated name=/absolute/folder links created in each release (release strategy)', default: '' },
  checkCommand: { description: 'Absolute path of a program run after the switch; if it fails the link is rolled back (empty: none)', default: '' },
  checkUser: { description: 'The user the check runs as (empty: the agent\'s user, root)', default: '' },
  keepReleases: { description: 'How many releases to keep (1-100)', default: '5' },
  attemptId: { description: 'The controller attempt this command belongs to (for the host log)', default: 'manual' },
};

/** The agent sets SSM_<name> (ENV_VAR interpolation); older agents only substitute the value in place. */
function parameterLines(): string[] {
  return PARAMETER_FLAGS.map(([name]) =>
    `if [ -z "\${SSM_${name}+x}" ]; then SSM_${name}='{{ ${name} }}'; fi`);
}

/**
 * The script as the document carries it: the shebang and the usage header (which `usage` prints) kept, every
 * other comment line and blank line dropped. The document goes inline into the stack's template, which
 * CloudFormation caps at 51,200 bytes without an S3 bucket; comments cost bytes and do nothing on a host.
 */
export function documentScript(script: string): string {
  const lines = script.replace(/\n$/, '').split('\n');
  let header = 1;
  while (header < lines.length && (lines[header] as string).startsWith('#')) header += 1;
  const body = lines.slice(header).filter((line) => !/^\s*(#.*)?$/.test(line));
  return `${[...lines.slice(0, header), ...body].join('\n')}\n`;
}

/**
 * Drops the docstrings of a module (module, class and function), found by Python's own parser: a docstring is
 * the first statement of its body, so one that is the whole body becomes `pass`. Docstrings are for the people
 * reading the repo; on a host they are bytes of the stack's inline template (CloudFormation caps it at 51,200).
 */
const STRIP_DOCSTRINGS = `
import ast, sys
text = sys.stdin.read()
lines = text.split('\\n')
cuts = []
for node in ast.walk(ast.parse(text)):
    body = getattr(node, 'body', None)
    if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not body:
        continue
    first = body[0]
    one_line = not isinstance(node, ast.Module) and first.lineno == node.lineno
    if not one_line and isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        cuts.append((first.lineno, first.end_lineno, len(body) == 1, first.col_offset))
for start, end, alone, col in sorted(cuts, reverse=True):
    lines[start - 1:end] = [' ' * col + 'pass'] if alone else []
sys.stdout.write('\\n'.join(lines))
`;

/**
 * A module as the document carries it: without its comment-only lines and its docstrings (they cost bytes of the
 * inline template and do nothing on a host; the modules hold no string in which a line starts with #). Needs
 * python3, as the tests that regenerate the document do.
 */
export function carriedModule(text: string): string {
  const bare = execFileSync('python3', ['-I', '-S', '-c', STRIP_DOCSTRINGS], { input: text, encoding: 'utf8' });
  return bare.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
}

/** The agent as the document carries it: its modules in one tar, gzip, then base64 in lines of 76. */
export function packedAgent(agent: Record<string, string>): string[] {
  const files = Object.fromEntries(Object.entries(agent).map(([name, text]) => [`fleetsync_agent/${name}`, carriedModule(text)]));
  const packed = gzipSync(tarball(files), { level: 9 }).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < packed.length; i += 76) lines.push(packed.slice(i, i + 76));
  return lines;
}

export function buildDocument(fullScript: string, agent: Record<string, string>): Record<string, unknown> {
  const script = documentScript(fullScript);
  if (script.includes('{{')) throw new Error('the host script must not contain "{{": SSM would read it as a parameter');
  if (script.split('\n').includes(SCRIPT_END_MARKER)) throw new Error(`the host script must not hold a line ${SCRIPT_END_MARKER}`);
  const patterns = allowedPatterns(agent[AGENT_COMMON] ?? '');
  for (const name of Object.keys(agent)) {
    if (!/^[a-z_]+\.py$/.test(name)) throw new Error(`agent module ${name}: only lowercase .py names travel in the document`);
  }
  const parameters = Object.fromEntries(PARAMETER_FLAGS.map(([name]) => {
    const text = PARAMETER_TEXT[name];
    return [name, {
      type: 'String',
      description: text.description,
      ...(text.default === undefined ? {} : { default: text.default }),
      allowedPattern: patterns[name],
      interpolationType: 'ENV_VAR',
    }];
  }));
  const invocation = ['bash "$fs_dir/fleetsync-sync.sh"', ...PARAMETER_FLAGS.map(([name, flag]) => `${flag} "$SSM_${name}"`)].join(' ');
  const runCommand = [
    '# fleetsync: the agent runs from a private temporary folder; parameter values reach it only as quoted arguments.',
    'fs_dir=$(mktemp -d) || exit 3',
    'trap \'rm -rf "$fs_dir"\' EXIT',
    `cat >"$fs_dir/fleetsync-sync.sh" <<'${SCRIPT_END_MARKER}'`,
    ...script.replace(/\n$/, '').split('\n'),
    SCRIPT_END_MARKER,
    `base64 -d <<'${SCRIPT_END_MARKER}' | tar -xzf - -C "$fs_dir" || exit 3`,
    ...packedAgent(agent),
    SCRIPT_END_MARKER,
    ...parameterLines(),
    invocation,
    'exit $?',
  ];
  return {
    schemaVersion: '2.2',
    description: 'fleetsync: syncs this host\'s codebase to a revision, or reports the revision it holds. '
      + 'Generated from deploy/host/fleetsync-sync.sh and fleetsync_agent/ by deploy/ssm/document.ts; do not edit by hand.',
    parameters,
    mainSteps: [{
      action: 'aws:runShellScript',
      name: 'fleetsyncSync',
      precondition: { StringEquals: ['platformType', 'Linux'] },
      inputs: { timeoutSeconds: EXECUTION_TIMEOUT_SECONDS, runCommand },
    }],
  };
}

export function renderDocument(script: string, agent: Record<string, string>): string {
  return `${JSON.stringify(buildDocument(script, agent), null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderDocument(readFileSync(SCRIPT_PATH, 'utf8'), readAgent());
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) {
    throw new Error(`the document is ${Buffer.byteLength(text)} bytes; SSM allows ${MAX_DOCUMENT_BYTES}`);
  }
  writeFileSync(DOCUMENT_PATH, text);
  console.log(`wrote ${DOCUMENT_PATH} (${Buffer.byteLength(text)} bytes)`);
}
