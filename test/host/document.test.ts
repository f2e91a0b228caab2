/**
 * The SSM command document: generated from the host script, its allowedPatterns are the script's own
 * validation patterns and state/validate.ts PATTERNS, and its runCommand really runs the script.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTEMPT_ID_PATTERN, EXIT, PARAMETER_FLAGS, parseResultLine, ssmParameters } from '../../controller/hostProtocol.ts';
import type { SyncParams } from '../../controller/ports/commands.ts';
import { PATTERNS, SHARED_ROOTS, SYSTEM_TREES, checkDestination } from '../../state/validate.ts';
import {
  AGENT_PATH, DOCUMENT_PATH, MAX_DOCUMENT_BYTES, SCRIPT_END_MARKER, SCRIPT_PATH, renderDocument, scriptPathList, scriptPatterns,
  documentScript,
} from '../../deploy/ssm/document.ts';
import { holdLock, makeTempDir, requireTools, runScript, writeTree } from '../support/hostScript.ts';

interface Parameter { type: string; allowedPattern: string; interpolationType?: string; default?: string }
interface Doc {
  schemaVersion: string;
  parameters: Record<string, Parameter>;
  mainSteps: Array<{ action: string; name: string; inputs: { runCommand: string[]; timeoutSeconds: number } }>;
}

let script: string;
let agent: string;
let committed: string;
let doc: Doc;
let tmp: { path: string; remove(): Promise<void> };

/** A JS pattern's source as the script and SSM write it (no escaped slashes). */
const plain = (re: RegExp) => re.source.replace(/\\\//g, '/');
const body = (re: RegExp) => plain(re).replace(/^\^/, '').replace(/\$$/, '');

beforeAll(async () => {
  requireTools('bash', 'sh', 'flock', 'shellcheck');
  script = await readFile(SCRIPT_PATH, 'utf8');
  agent = await readFile(AGENT_PATH, 'utf8');
  committed = await readFile(DOCUMENT_PATH, 'utf8');
  doc = JSON.parse(committed) as Doc;
  tmp = await makeTempDir('ssmdoc');
});
afterAll(async () => {
  await tmp.remove();
});

describe('the committed document', () => {
  it('is exactly what deploy/ssm/document.ts generates from the script (else run: npx tsx deploy/ssm/document.ts)', () => {
    expect(committed).toBe(renderDocument(script, agent));
  });

  it('is a schema 2.2 aws:runShellScript command document under 64 KB, every parameter with an allowedPattern', () => {
    expect(doc.schemaVersion).toBe('2.2');
    expect(doc.mainSteps).toHaveLength(1);
    expect(doc.mainSteps[0]?.action).toBe('aws:runShellScript');
    expect(Buffer.byteLength(committed)).toBeLessThan(MAX_DOCUMENT_BYTES);
    expect(Object.keys(doc.parameters)).toEqual(PARAMETER_FLAGS.map(([name]) => name));
    for (const [name, parameter] of Object.entries(doc.parameters)) {
      expect(parameter.type, name).toBe('String');
      expect(parameter.interpolationType, name).toBe('ENV_VAR');
      expect(parameter.allowedPattern, name).toMatch(/^\^.*\$$/);
      if (parameter.default !== undefined) expect(new RegExp(parameter.allowedPattern).test(parameter.default), name).toBe(true);
    }
  });

  it('has allowedPatterns equal to state/validate.ts PATTERNS', () => {
    const p = doc.parameters;
    // file:// is for the local fleet: SSM refuses it before a host sees it
    expect(p.source?.allowedPattern).toBe(plain(PATTERNS.s3Source));
    expect(new RegExp(p.source?.allowedPattern ?? '').test('file:///srv/revisions')).toBe(false);
    expect(p.checkUser?.allowedPattern).toBe('^([a-z_][a-z0-9_-]{0,31})?$');
    expect(p.revision?.allowedPattern).toBe(plain(PATTERNS.revision));
    expect(p.destination?.allowedPattern).toBe(plain(PATTERNS.destination));
    const exclude = body(PATTERNS.exclude);
    expect(p.excludes?.allowedPattern).toBe(`^(${exclude}(,${exclude})*)?$`);
    const link = `${body(PATTERNS.linkName)}=${body(PATTERNS.destination)}`;
    expect(p.links?.allowedPattern).toBe(`^(${link}(,${link})*)?$`);
    expect(p.checkCommand?.allowedPattern).toBe(`^(${body(PATTERNS.checkCommand)})?$`);
    expect(p.attemptId?.allowedPattern).toBe(plain(ATTEMPT_ID_PATTERN));
    expect(p.mode?.allowedPattern).toBe('^(sync|probe)$');
    expect(p.strategy?.allowedPattern).toBe('^(release|inplace)$');
    expect(p.keepReleases?.allowedPattern).toBe('^[0-9]{1,3}$');
  });

  it('carries the wrapper without its comment and blank lines (its usage header kept) and the agent byte for byte, with nothing SSM would read as a parameter', () => {
    const lines = doc.mainSteps[0]?.inputs.runCommand ?? [];
    const carried = documentScript(script);
    expect(lines.join('\n')).toContain(carried.replace(/\n$/, ''));
    // only whole comment lines and blank lines went: every other line is there, in order
    expect(carried.replace(/\n$/, '').split('\n').filter((l) => !l.startsWith('#'))).toEqual(script.split('\n').filter((l) => !/^\s*(#.*)?$/.test(l)));
    expect(carried).toContain('# Exit codes: 0 synced');
    // the agent travels gzip+base64 between the second pair of markers, and unpacks to the file in the repo
    const start = lines.findIndex((l) => l.includes('| gzip -dc >'));
    const end = lines.indexOf(SCRIPT_END_MARKER, start + 1);
    expect(start).toBeGreaterThan(0);
    expect(gunzipSync(Buffer.from(lines.slice(start + 1, end).join(''), 'base64')).toString('utf8')).toBe(agent);
    expect(script).not.toContain('{{');
    expect(lines.join('\n')).not.toContain('{{ checkUser }}x');
  });

  it('has a runCommand that shellcheck finds clean as POSIX sh', async () => {
    const wrapper = join(tmp.path, 'runCommand.sh');
    await writeFile(wrapper, `${doc.mainSteps[0]?.inputs.runCommand.join('\n')}\n`);
    const result = await run('shellcheck', ['-s', 'sh', wrapper]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('the host script', () => {
  it('is shellcheck clean', async () => {
    const result = await run('shellcheck', [SCRIPT_PATH]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('validates with the same patterns as state/validate.ts', () => {
    const re = scriptPatterns(agent);
    expect(re.RE_REVISION).toBe(plain(PATTERNS.revision));
    expect(re.RE_DESTINATION).toBe(plain(PATTERNS.destination));
    expect(re.RE_EXCLUDE).toBe(plain(PATTERNS.exclude));
    expect(re.RE_LINK_NAME).toBe(plain(PATTERNS.linkName));
    expect(re.RE_CHECK_COMMAND).toBe(plain(PATTERNS.checkCommand));
    expect(re.RE_S3_SOURCE).toBe(plain(PATTERNS.s3Source));
    expect(re.RE_FILE_SOURCE).toBe(plain(PATTERNS.fileSource));
    expect(re.RE_ATTEMPT_ID).toBe(plain(ATTEMPT_ID_PATTERN));
  });

  it('refuses the same system trees and shared roots as state/validate.ts, and agrees with it folder by folder', async () => {
    expect(scriptPathList(agent, 'SYSTEM_TREES')).toEqual([...SYSTEM_TREES]);
    expect(scriptPathList(agent, 'SHARED_ROOTS')).toEqual([...SHARED_ROOTS]);
    const candidates = ['/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib64', '/libx32/x', '/opt', '/proc', '/root',
      '/run', '/srv', '/sys', '/tmp', '/usr', '/usr/local', '/usr/local/bin', '/var', '/var/lib', '/var/lib/mysql',
      '/var/log', '/var/tmp', '/mnt', '/media', '/var/www', '/var/www/app', '/srv/app', '/etc/cron.d', '/root/.ssh',
      '/boot/efi', '/library/app', '/home/app/www', '/opt/app', '/var/tmp/x', '/varnish'];
    for (const folder of candidates) {
      const refusedByValidate = checkDestination(folder, 'destination') !== undefined;
      const probe = await runScript(['--mode', 'probe', '--destination', folder]);
      expect(probe.code === EXIT.badArguments, folder).toBe(refusedByValidate);
    }
  });

  it('refuses whatever an allowedPattern refuses (so SSM and the script never disagree the unsafe way)', async () => {
    const samples: Array<[string, string, string]> = [
      ['revision', '--revision', 'v1'], ['revision', '--revision', '-v1'], ['revision', '--revision', 'v1/x'],
      ['revision', '--revision', 'a'.repeat(129)], ['revision', '--revision', 'v1\n'],
      ['source', '--source', 's3://my-bucket/web'], ['source', '--source', 's3://My_Bucket/web'],
      ['source', '--source', 'file:///srv/revisions'], ['source', '--source', 'file://relative'],
      ['excludes', '--excludes', 'media/*,var/*'], ['excludes', '--excludes', ''], ['excludes', '--excludes', 'media/*,'],
      ['excludes', '--excludes', 'a b'], ['excludes', '--excludes', 'cache/[ab]'],
      ['links', '--links', 'media=/mnt/efs/media'], ['links', '--links', 'a/b=/mnt/x,c=/mnt/y'],
      ['links', '--links', 'media=relative'], ['links', '--links', 'media=/mnt/x=y'],
      ['checkCommand', '--check', ''], ['checkCommand', '--check', '/usr/local/bin/check'], ['checkCommand', '--check', 'check'],
      ['keepReleases', '--keep-releases', '5'], ['keepReleases', '--keep-releases', '1000'], ['keepReleases', '--keep-releases', '-1'],
      ['attemptId', '--attempt-id', 'a-1.b_2'], ['attemptId', '--attempt-id', 'a:1'],
      ['strategy', '--strategy', 'inplace'], ['strategy', '--strategy', 'copy'],
    ];
    const dest = join(tmp.path, 'never-created');
    for (const [parameter, flag, value] of samples) {
      const pattern = new RegExp(doc.parameters[parameter]?.allowedPattern ?? '^$');
      const result = await runScript(['--mode', 'probe', '--destination', dest, flag, value]);
      const label = `${parameter}=${JSON.stringify(value)}`;
      // file:// sources are the local fleet's: the agent takes them, the document does not let them reach a host
      if (value.startsWith('file:///')) expect([result.code, pattern.test(value)], label).toEqual([0, false]);
      else if (!pattern.test(value)) expect(result.code, label).toBe(EXIT.badArguments);
      else expect(result.code, label).toBe(0);
    }
    expect(existsSync(dest)).toBe(false);
  });
});

function run(file: string, args: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', env: env ?? process.env }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('the document run as the SSM agent runs it', () => {
  async function fixture(name: string) {
    const root = join(tmp.path, name);
    await writeTree(join(root, 'src', 'v1'), { index: 'v1', 'media/x': 'excluded' });
    await writeTree(join(root, 'src', 'v2'), { index: 'v2' });
    await mkdir(join(root, 'efs'), { recursive: true });
    const params = (revision: string): SyncParams => ({
      source: `file://${join(root, 'src')}`, revision, destination: join(root, 'dest'), strategy: 'release',
      excludes: ['media/*', 'var/*'], links: { media: join(root, 'efs') }, keepReleases: 5,
    });
    const commandFile = join(root, '_script.sh');
    return { root, params, commandFile };
  }

  const baseEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp.path });

  it('newer agents: values arrive as SSM_<name> environment variables', async () => {
    const f = await fixture('env-var-agent');
    await writeFile(f.commandFile, doc.mainSteps[0]?.inputs.runCommand.join('\n') ?? '');
    const env: Record<string, string> = baseEnv();
    for (const [name, [value]] of Object.entries(ssmParameters({ mode: 'sync', params: f.params('v1'), attemptId: 'cmd-1' }))) {
      env[`SSM_${name}`] = value as string;
    }
    const result = await run('sh', [f.commandFile], env);
    expect(result.code, result.stderr).toBe(EXIT.synced);
    const parsed = parseResultLine(result.stdout);
    expect(parsed).toMatchObject({ ok: true, result: { revision: 'v1', status: 'synced' } });
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(await readlink(join(f.root, 'dest', 'current', 'media'))).toBe(join(f.root, 'efs'));
    expect(existsSync(join(f.root, 'dest', 'current', 'media', 'x'))).toBe(false);

    // Exit codes pass through the wrapper: busy is 75, not a generic failure.
    const lock = await holdLock(join(f.root, 'dest', '.fleetsync', 'lock'));
    try {
      env.SSM_revision = 'v2';
      const busy = await run('sh', [f.commandFile], env);
      expect(busy.code).toBe(EXIT.busy);
    } finally {
      lock.stop();
    }
  });

  it('older agents: values substituted into the text; they land in single quotes and reach the script as data', async () => {
    const f = await fixture('text-agent');
    const values = ssmParameters({ mode: 'sync', params: f.params('v2'), attemptId: 'cmd-2' });
    const text = (doc.mainSteps[0]?.inputs.runCommand.join('\n') ?? '')
      .replace(/\{\{ (\w+) \}\}/g, (_m, name: string) => values[name]?.[0] ?? '');
    await writeFile(f.commandFile, text);
    const result = await run('sh', [f.commandFile], baseEnv());
    expect(result.code, result.stderr).toBe(EXIT.synced);
    expect(parseResultLine(result.stdout)).toMatchObject({ ok: true, result: { revision: 'v2' } });
    expect(await readFile(join(f.root, 'dest', 'current', 'index'), 'utf8')).toBe('v2');

    // A value SSM's pattern check might let through with a trailing newline is still refused by the script.
    const canary = join(f.root, 'pwned');
    const sneaky = text.replace("SSM_revision='v2'", `SSM_revision='v2\n$(touch ${canary})'`);
    await writeFile(f.commandFile, sneaky);
    const refused = await run('sh', [f.commandFile], baseEnv());
    expect(refused.code).toBe(EXIT.badArguments);
    expect(existsSync(canary)).toBe(false);
  });
});
