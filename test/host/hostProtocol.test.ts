import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DOCUMENT_NAME, EXIT, PARAMETER_FLAGS, parseResultLine, scriptArgs, ssmParameters,
} from '../../controller/hostProtocol.ts';
import type { SyncParams } from '../../controller/ports/commands.ts';
import { ValidationError } from '../../state/validate.ts';

const params: SyncParams = {
  source: 's3://my-codebase/web',
  revision: '3f9c2ab',
  destination: '/var/www/app',
  strategy: 'release',
  excludes: ['media/*', 'var/*'],
  links: { media: '/mnt/efs/media', 'public/uploads': '/mnt/efs/uploads' },
  checkCommand: '/usr/local/bin/app-healthcheck',
  checkUser: 'www-data',
  keepReleases: 5,
};

describe('scriptArgs and ssmParameters', () => {
  it('build the script argv and the document parameters from the same values', () => {
    const args = scriptArgs({ mode: 'sync', params, attemptId: 'att-42' });
    expect(args).toEqual([
      '--mode', 'sync', '--source', 's3://my-codebase/web', '--revision', '3f9c2ab', '--destination', '/var/www/app',
      '--strategy', 'release', '--excludes', 'media/*,var/*', '--links', 'media=/mnt/efs/media,public/uploads=/mnt/efs/uploads',
      '--check', '/usr/local/bin/app-healthcheck', '--check-user', 'www-data', '--keep-releases', '5', '--attempt-id', 'att-42',
    ]);
    const ssm = ssmParameters({ mode: 'sync', params, attemptId: 'att-42' });
    expect(Object.keys(ssm)).toEqual(PARAMETER_FLAGS.map(([name]) => name));
    PARAMETER_FLAGS.forEach(([name, flag]) => {
      expect(ssm[name]).toEqual([args[args.indexOf(flag) + 1]]);
    });
  });

  it('send empty strings for no check, no links and no excludes', () => {
    const ssm = ssmParameters({
      mode: 'probe', attemptId: 'p1',
      params: { ...params, excludes: [], links: {}, checkCommand: undefined, checkUser: undefined, strategy: 'inplace' },
    });
    expect(ssm).toMatchObject({
      mode: ['probe'], excludes: [''], links: [''], checkCommand: [''], checkUser: [''], strategy: ['inplace'],
    });
  });

  const bad: Array<[string, Partial<SyncParams> | { attemptId: string } | { mode: string }]> = [
    ['revision ../x', { revision: '../x' }],
    ['revision with $(...)', { revision: '$(touch /tmp/pwned)' }],
    ['revision with a quote', { revision: "v1'" }],
    ['revision with a newline', { revision: 'v1\nrm -rf /' }],
    ['empty revision', { revision: '' }],
    ['destination ../x', { destination: '../x' }],
    ['destination /etc', { destination: '/etc' }],
    ['destination /etc/. (a system folder once normalized)', { destination: '/etc/.' }],
    ['destination //usr// (a system folder once normalized)', { destination: '//usr//' }],
    ['destination with a space', { destination: '/var/www/my app' }],
    ['source with ..', { source: 'file:///srv/../etc' }],
    ['ftp source', { source: 'ftp://x/y' }],
    ['exclude ../x', { excludes: ['../x'] }],
    ['absolute exclude', { excludes: ['/etc/*'] }],
    ['release exclude that is no whole folder', { excludes: ['media/*', '*.log'] }],
    ['release exclude inside a link', { excludes: ['media/thumbs/*'] }],
    ['link name .', { links: { '.': '/mnt/efs/x' } }],
    ['link name with ..', { links: { '../media': '/mnt/efs/x' } }],
    ['link into a system folder', { links: { media: '/etc' } }],
    ['links with inplace', { strategy: 'inplace' }],
    ['check with arguments', { checkCommand: '/bin/sh -c id' }],
    ['check user with an uppercase letter', { checkUser: 'WWW' }],
    ['check user with a semicolon', { checkUser: 'www;id' }],
    ['check user without a check command', { checkCommand: undefined }],
    ['keepReleases 0', { keepReleases: 0 }],
    ['keepReleases 1.5', { keepReleases: 1.5 }],
    ['attempt id with a space', { attemptId: 'a b' }],
    ['unknown mode', { mode: 'delete' }],
  ];

  it.each(bad)('throw ValidationError for %s', (_name, change) => {
    const { attemptId = 'att-1', mode = 'sync', ...rest } = change as Partial<SyncParams> & { attemptId?: string; mode?: string };
    const args = { mode: mode as 'sync', attemptId, params: { ...params, ...rest } };
    expect(() => scriptArgs(args)).toThrow(ValidationError);
    expect(() => ssmParameters(args)).toThrow(ValidationError);
  });

  it('say what was wrong and how to fix it', () => {
    try {
      scriptArgs({ mode: 'sync', attemptId: 'a', params: { ...params, revision: 'a b', destination: '/etc' } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const problems = (error as ValidationError).problems;
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/revision "a b" is not valid: use 1-128 letters/);
      expect(problems[1]).toMatch(/system folder/);
    }
  });

  it('keep the Contract exit codes and the default document name', () => {
    expect(EXIT).toEqual({ synced: 0, badArguments: 2, syncFailed: 3, checkFailed: 4, busy: 75 });
    expect(Object.values(EXIT)).not.toContain(194);
    expect(Object.values(EXIT)).not.toContain(3010);
    expect(DEFAULT_DOCUMENT_NAME).toBe('fleetsync-sync');
  });
});

describe('parseResultLine', () => {
  const line = 'FLEETSYNC-RESULT {"revision":"v2","target":"v2","strategy":"release","status":"synced","files":3,"bytes":120,"seconds":4,"attempt":"a1","log":"/var/www/app/.fleetsync/sync.log"}';

  it('reads the result line, also among other output and with CRLF line ends', () => {
    const parsed = parseResultLine(`some noise\r\n${line}\r\n`);
    expect(parsed).toEqual({
      ok: true,
      result: {
        revision: 'v2', target: 'v2', strategy: 'release', status: 'synced', files: 3, bytes: 120, seconds: 4,
        attempt: 'a1', log: '/var/www/app/.fleetsync/sync.log',
      },
    });
  });

  it('reads what a published revision\'s sync downloaded and reused, and refuses those fields with the wrong type', () => {
    const published = 'FLEETSYNC-RESULT {"revision":"v3","status":"synced","files":20,"bytes":900,"downloadedFiles":20,"downloadedBytes":900,"reusedFiles":1980,"reusedBytes":88000,"seconds":1}';
    expect(parseResultLine(published)).toEqual({
      ok: true,
      result: {
        revision: 'v3', status: 'synced', files: 20, bytes: 900, downloadedFiles: 20, downloadedBytes: 900,
        reusedFiles: 1980, reusedBytes: 88000, seconds: 1,
      },
    });
    expect(parseResultLine(published.replace('"reusedFiles":1980', '"reusedFiles":"1980"')).ok).toBe(false);
  });

  it('reads a failure with a null revision and an error', () => {
    const parsed = parseResultLine('FLEETSYNC-RESULT {"revision":null,"status":"badArguments","seconds":0,"error":"--revision is required"}\n');
    expect(parsed).toEqual({ ok: true, result: { revision: null, status: 'badArguments', seconds: 0, error: '--revision is required' } });
  });

  it('reports a line cut short (SSM keeps only the first 2,500 characters)', () => {
    const parsed = parseResultLine(`${line.slice(0, 80)}\n---Output truncated---`);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/not complete JSON/);
  });

  it('reports a missing line', () => {
    const parsed = parseResultLine('bash: fleetsync-sync.sh: No such file or directory\n');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/no FLEETSYNC-RESULT line/);
    expect(parseResultLine('').ok).toBe(false);
  });

  it('reports two lines, a non-object, wrong field types and an invalid revision', () => {
    expect(parseResultLine(`${line}\n${line}\n`)).toMatchObject({ ok: false, reason: expect.stringMatching(/2 FLEETSYNC-RESULT lines/) });
    expect(parseResultLine('FLEETSYNC-RESULT [1,2]')).toMatchObject({ ok: false, reason: expect.stringMatching(/object/) });
    expect(parseResultLine('FLEETSYNC-RESULT {"revision":"v1"}')).toMatchObject({ ok: false, reason: expect.stringMatching(/expected fields/) });
    expect(parseResultLine('FLEETSYNC-RESULT {"revision":"v1","status":"synced","files":"3"}').ok).toBe(false);
    expect(parseResultLine('FLEETSYNC-RESULT {"revision":"../x","status":"synced"}'))
      .toMatchObject({ ok: false, reason: expect.stringMatching(/invalid revision/) });
  });
});
