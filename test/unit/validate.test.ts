/** Validation of everything user-supplied, against the design's Contract: each error says what and what is allowed. */
import { describe, expect, it } from 'vitest';
import {
  ValidationError, checkDestination, checkExclude, checkFleetName, checkInstanceId, checkMaxUnavailable, checkRevision,
  checkSource, normalFolder, sharedFolderOf, parseFleetResource, parseFleetSpec, SHARED_ROOTS, SYSTEM_TREES, systemTreeOf,
} from '../../state/validate.ts';
import { DEFAULT_ROLLOUT } from '../../state/spec.ts';

const MINIMAL = {
  autoScalingGroupName: 'web-prod-asg',
  source: 's3://my-codebase/web',
  destination: '/var/www/app',
  revision: '3f9c2ab',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems;
  }
  throw new Error('expected a ValidationError');
}

describe('fleet names', () => {
  it.each(['web-prod', 'a', '0', 'web1', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(checkFleetName(name, 'fleet name')).toBeUndefined();
  });

  it.each(['', 'Web', '-web', 'web-', 'web_prod', 'web.prod', 'web prod', 'a'.repeat(64), 'wéb', 'web;rm'])(
    'rejects %j, saying what is allowed', (name) => {
      const message = checkFleetName(name, 'fleet name');
      expect(message).toContain('fleet name');
      expect(message).toContain(JSON.stringify(name));
      expect(message).toContain('lowercase letters, digits and dashes');
    });

  it('rejects a value that is not a string', () => {
    expect(checkFleetName(42, 'metadata.name')).toMatch(/^metadata\.name must be a string/);
  });
});

describe('revisions', () => {
  it.each(['3f9c2ab', 'v1.2.3', 'release_2024-01-05', 'A', 'x'.repeat(128)])('accepts %s', (revision) => {
    expect(checkRevision(revision, 'revision')).toBeUndefined();
  });

  it.each(['', '.hidden', '-rf', '_x', 'a b', 'a/b', '../x', 'x'.repeat(129), 'a;reboot', '$(id)', 'a\nb'])(
    'rejects %j, saying what is allowed', (revision) => {
      const message = checkRevision(revision, 'revision');
      expect(message).toContain(JSON.stringify(revision));
      expect(message).toContain('letters, digits, dots, dashes and underscores');
    });
});

describe('instance ids', () => {
  it.each(['i-0123abcd', 'i-0123456789abcdef0'])('accepts %s', (id) => expect(checkInstanceId(id, 'id')).toBeUndefined());
  it.each(['i-0123', 'i-0123456789ABCDEF0', 'x-0123abcd', 'i-0123456789abcdef01'])('rejects %s', (id) => {
    expect(checkInstanceId(id, 'id')).toContain('i-0123456789abcdef0');
  });
});

describe('destinations', () => {
  it.each(['/var/www/app', '/srv/app', '/opt/site/current', '/var/www/app/', '/home/web/app', '/data'])('accepts %s', (dest) => {
    expect(checkDestination(dest, 'destination')).toBeUndefined();
  });

  it.each(['var/www/app', 'app', '', '/var/www/my app', '/var/www/$(id)', '/var/www/a;b', `/${'a'.repeat(256)}`])(
    'rejects %j: it must be an absolute path of safe characters', (dest) => {
      const message = checkDestination(dest, 'destination');
      expect(message).toContain(JSON.stringify(dest));
      expect(message).toContain('absolute path');
    });

  it.each(['/var/www/../../etc', '/..', '/var/..', '/srv/app/../x'])('rejects %j: no ".." segment', (dest) => {
    expect(checkDestination(dest, 'destination')).toBe(`destination ${JSON.stringify(dest)} must not contain a ".." segment`);
  });

  // The examples: each passed the old exact-path check, and a sync as root would have written there.
  it.each([
    ['/etc/cron.d', '/etc'], ['/etc/sudoers.d', '/etc'], ['/usr/local/bin', '/usr'], ['/root/.ssh', '/root'],
    ['/var/lib/mysql', '/var/lib'], ['/boot/efi', '/boot'], ['/lib64/security', '/lib64'], ['/libx32/x', '/libx32'],
    ['/var/log/nginx', '/var/log'], ['/var/spool/cron', '/var/spool'], ['/var/cache/apt', '/var/cache'],
    ['/run/lock', '/run'], ['/proc/self', '/proc'], ['/sys/kernel', '/sys'], ['/dev/shm', '/dev'], ['/sbin/x', '/sbin'],
    ['/bin/x', '/bin'], ['/usr/share/nginx/html', '/usr'],
  ])('rejects %j: it is inside the system folder %s', (dest, tree) => {
    expect(checkDestination(dest, 'destination')).toBe(`destination ${JSON.stringify(dest)} is inside the system folder ${tree},`
      + ' where a sync could wreck the host: use a folder of its own outside the system folders (like /var/www/app or /srv/app)');
  });

  it.each(['/etc', '/usr', '/root', '/boot', '/usr/local', '/var/lib', '/lib', '/lib32', '/proc', '/dev', '/var/cache'])(
    'rejects %j: a system folder itself', (dest) => {
      const message = checkDestination(dest, 'destination');
      expect(message).toMatch(/^destination "[^"]+" is (the|inside the) system folder \//);
      expect(message).toContain('use a folder of its own');
    });

  it.each(['//', '/var', '/var/', '/home', '/srv', '/opt', '/mnt', '/media', '/tmp', '/var/tmp'])(
    'rejects %j: a shared root, as an exact path', (dest) => {
      const message = checkDestination(dest, 'destination');
      expect(message).toContain(JSON.stringify(dest));
      expect(message).toContain('is a shared system folder: use a folder of its own below it');
    });

  it.each(['/var/www/app', '/srv/app', '/home/app/www', '/opt/app', '/mnt/efs/media', '/media/disk/app', '/tmp/x',
    '/var/tmp/build', '/var/www', '/data/app', '/etcetera/app', '/usrdata/app', '/varlib/x'])(
    'accepts %j: below a shared root or outside every system folder', (dest) => {
      expect(checkDestination(dest, 'destination')).toBeUndefined();
    });

  // Spellings of the root or a system folder with empty or "." segments are still that folder on the host.
  it.each([['/.', '/'], ['/./', '/'], ['//etc', '/etc'], ['/./etc', '/etc'], ['/etc/.', '/etc'], ['/usr//', '/usr'],
    ['/var/./', '/var'], ['//etc//cron.d/.', '/etc/cron.d'], ['/var/./lib/mysql', '/var/lib/mysql']])(
    'rejects %j: %s in disguise, naming the folder it is', (dest, normal) => {
      const message = checkDestination(dest, 'destination');
      expect(message).toContain(`destination ${JSON.stringify(dest)} (that is ${normal}) is`);
      expect(message).toContain('use a folder of its own');
    });

  it.each(['/var/www/./app', '//srv/app'])('accepts %j, which names an ordinary folder', (dest) => {
    expect(checkDestination(dest, 'destination')).toBeUndefined();
  });
});

describe('SYSTEM_TREES and SHARED_ROOTS (the rule deploy/host mirrors)', () => {
  it('name the issue\'s trees and roots as absolute normal paths, no folder in both lists', () => {
    expect([...SYSTEM_TREES].sort()).toEqual(['/bin', '/boot', '/dev', '/etc', '/lib*', '/proc', '/root', '/run', '/sbin',
      '/sys', '/usr', '/var/cache', '/var/lib', '/var/log', '/var/spool']);
    expect([...SHARED_ROOTS].sort()).toEqual(['/', '/home', '/media', '/mnt', '/opt', '/srv', '/tmp', '/var', '/var/tmp']);
    for (const root of SHARED_ROOTS) expect(systemTreeOf(root)).toBeUndefined();
  });

  it('read "/lib*" as every top-level folder whose name starts with lib, and nothing deeper', () => {
    expect(systemTreeOf('/libx32/a')).toBe('/libx32');
    expect(systemTreeOf('/lib')).toBe('/lib');
    expect(systemTreeOf('/srv/lib64')).toBeUndefined();
    expect(systemTreeOf('/usr/lib64')).toBe('/usr');
  });

  it('normalize empty and "." segments away', () => {
    expect(normalFolder('//var/./www//app/.')).toBe('/var/www/app');
    expect(normalFolder('/')).toBe('/');
  });
});

describe('exclude patterns', () => {
  it.each(['media/*', 'var/*', '*.log', 'cache/?', 'a/b/c', '.env'])('accepts %s', (p) => {
    expect(checkExclude(p, 'excludes[0]')).toBeUndefined();
  });

  it.each(['/media/*', '/'])('rejects %j: it must be relative', (p) => {
    expect(checkExclude(p, 'excludes[0]')).toBe(`excludes[0] ${JSON.stringify(p)} must be relative (like media/*)`);
  });

  it.each(['../x', 'a/../b', 'a/..', '..'])('rejects %j: no ".." segment', (p) => {
    expect(checkExclude(p, 'excludes[0]')).toBe(`excludes[0] ${JSON.stringify(p)} must not contain a ".." segment`);
  });

  it.each(['', 'media/[ab]', 'a b', "it's", '$(id)', 'a;b', 'x'.repeat(257)])('rejects %j: unsafe characters', (p) => {
    const message = checkExclude(p, 'excludes[0]');
    expect(message).toContain(JSON.stringify(p));
    expect(message).toContain('relative pattern of letters, digits');
  });
});

describe('sources', () => {
  it.each(['s3://my-codebase/web', 's3://my-codebase', 's3://my.bucket-1/a/b_c', 'file:///srv/artifacts', 'file:///'])('accepts %s', (s) => {
    expect(checkSource(s, 'source')).toBeUndefined();
  });

  it.each([
    'http://example.com/x', 's3://My-Bucket/web', 's3://b/web', 's3://my-codebase/../other', 'file://relative/path',
    'file:///srv/../etc', 's3://my-codebase/web dir', 's3://my-codebase/$(id)', '/srv/artifacts', '',
  ])('rejects %j, naming both allowed forms', (s) => {
    const message = checkSource(s, 'source');
    expect(message).toContain(JSON.stringify(s));
    expect(message).toContain('s3://bucket/prefix or file:///absolute/path');
  });
});

describe('maxUnavailable', () => {
  it.each([1, 3, '3', '1%', '25%', '100%'])('accepts %j', (v) => expect(checkMaxUnavailable(v)).toBeUndefined());
  it.each([0, -1, 1.5, '0%', '101%', '25.5%', '%', 'abc', '0', null])('rejects %j, saying count or percent', (v) => {
    const message = checkMaxUnavailable(v);
    expect(message).toMatch(/^maxUnavailable must be a (whole number|count)/);
    expect(message).toContain(String(v));
  });
});

describe('excludes of the release strategy: whole folders, kept in <destination>/shared/FOLDER', () => {
  const release = (excludes: string[], links: Record<string, string> = {}) => () => parseFleetSpec({ ...MINIMAL, excludes, links });

  it.each([['media/*', 'media'], ['var/*', 'var'], ['public/uploads/*', 'public/uploads'], ['.well-known/acme/*', '.well-known/acme'],
    ['a_b-c.d/*', 'a_b-c.d']])('reads %j as the folder %j', (exclude, folder) => {
    expect(sharedFolderOf(exclude)).toBe(folder);
  });

  it.each(['*.log', 'config/local.php', 'media/*/tmp', 'media', 'media/', 'media/**', 'media/?', '*/cache/*', './media/*',
    'a/./b/*', 'a//b/*', '/*', '*'])('reads %j as no whole folder', (exclude) => {
    expect(sharedFolderOf(exclude)).toBeUndefined();
  });

  it('accepts the default excludes and folders of every depth', () => {
    expect(parseFleetSpec(MINIMAL).excludes).toEqual(['media/*', 'var/*']);
    expect(release(['media/*', 'public/uploads/*', 'storage/app/*'])().excludes).toEqual(['media/*', 'public/uploads/*', 'storage/app/*']);
  });

  it.each(['*.log', 'config/local.php', 'media/*/tmp', 'cache/?', 'media'])('refuses %j, naming it and saying how to fix it', (exclude) => {
    expect(problemsOf(release(['media/*', exclude]))).toEqual([
      `spec.excludes[1] ${JSON.stringify(exclude)} is not a whole folder: with strategy release each exclude must read FOLDER/*`
      + ' (like media/*), a folder kept in <destination>/shared/FOLDER and linked into every release; exclude the folder'
      + ' that holds these files (like logs/*), or use strategy inplace',
    ]);
  });

  it('keeps accepting every exclude pattern with strategy inplace', () => {
    const excludes = ['*.log', 'config/local.php', 'media/*/tmp', 'media/*', 'media/thumbs/*'];
    expect(parseFleetSpec({ ...MINIMAL, strategy: 'inplace', excludes }).excludes).toEqual(excludes);
  });

  it('refuses a folder inside another excluded folder, and one listed twice', () => {
    expect(problemsOf(release(['media/*', 'media/thumbs/*', 'var/*', 'media/*']))).toEqual([
      'spec.excludes[1] "media/thumbs/*" is inside the excluded folder media (excludes[0]), which is kept whole: drop it',
      'spec.excludes[3] "media/*" is listed twice (also excludes[0]): drop one',
    ]);
    expect(release(['media/*', 'mediafiles/*'])().excludes).toEqual(['media/*', 'mediafiles/*']);
  });

  it('lets a link named like an excluded folder win: the release\'s folder is the link', () => {
    expect(release(['media/*', 'var/*'], { media: '/mnt/efs/media' })().links).toEqual({ media: '/mnt/efs/media' });
  });

  it('refuses an excluded folder inside a link, and a link inside an excluded folder', () => {
    expect(problemsOf(release(['media/thumbs/*'], { media: '/mnt/efs/media' }))).toEqual([
      'spec.excludes[0] "media/thumbs/*" is inside the link media (to /mnt/efs/media): the release\'s media is that link,'
      + ' so nothing of the release is kept there; drop the exclude',
    ]);
    expect(problemsOf(release(['media/*'], { 'media/cdn': '/mnt/efs/cdn' }))).toEqual([
      'spec.links key "media/cdn" is inside the excluded folder media (excludes[0]), which every release shares from'
      + ' <destination>/shared/media: link media itself, or exclude only the folders next to media/cdn',
    ]);
    expect(release(['media/*'], { mediacdn: '/mnt/efs/cdn' })().links).toEqual({ mediacdn: '/mnt/efs/cdn' });
  });

  it('reports an unsafe exclude once, and the other excludes\' problems beside it', () => {
    expect(problemsOf(release(['../x', '*.log']))).toEqual([
      'spec.excludes[0] "../x" must not contain a ".." segment',
      expect.stringMatching(/^spec\.excludes\[1\] "\*\.log" is not a whole folder/),
    ]);
  });
});

describe('parseFleetSpec', () => {
  it('fills in the defaults of the design', () => {
    const spec = parseFleetSpec(MINIMAL);
    expect(spec).toEqual({
      ...MINIMAL,
      lifecycleHookName: 'fleetsync-launch',
      targetGroupArns: [],
      strategy: 'release',
      excludes: ['media/*', 'var/*'],
      links: {},
      rollout: DEFAULT_ROLLOUT,
      keepReleases: 5,
      retries: {},
    });
    expect(spec.rollout).toMatchObject({
      maxUnavailable: '25%', maxLaunching: 50, maxFailures: 1, autoRollback: false, paused: false, drain: false,
      syncTimeoutSeconds: 900, maxAttempts: 3,
    });
  });

  it('keeps what the operator set and defaults the rest of the rollout', () => {
    const spec = parseFleetSpec({
      ...MINIMAL, strategy: 'inplace', excludes: [], rollout: { maxUnavailable: 2, paused: true },
      targetGroupArns: ['arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef'],
      check: { command: '/usr/local/bin/app-healthcheck' }, retries: { 'i-0123456789abcdef0': 'req-1' },
    });
    expect(spec.strategy).toBe('inplace');
    expect(spec.excludes).toEqual([]);
    expect(spec.rollout).toEqual({ ...DEFAULT_ROLLOUT, maxUnavailable: 2, paused: true });
    expect(spec.check).toEqual({ command: '/usr/local/bin/app-healthcheck' });
    expect(spec.retries).toEqual({ 'i-0123456789abcdef0': 'req-1' });
  });

  it('names unknown keys (a typo) and lists the known ones', () => {
    const problems = problemsOf(() => parseFleetSpec({ ...MINIMAL, revison: 'x', rollout: { maxUnavalable: 2 } }));
    expect(problems).toContainEqual(expect.stringMatching(/^spec\.revison is not a known field \(known: .*revision/));
    expect(problems).toContainEqual(expect.stringMatching(/^spec\.rollout\.maxUnavalable is not a known field \(known: .*maxUnavailable/));
  });

  it('reports every problem at once, each with its field', () => {
    const problems = problemsOf(() => parseFleetSpec({
      autoScalingGroupName: 'web asg', source: 'ftp://x', destination: '/etc', revision: '../x',
      excludes: ['/abs', 'ok/*'], strategy: 'rsync', rollout: { maxAttempts: 0, paused: 'yes' }, keepReleases: 0,
    }));
    const fields = ['spec.autoScalingGroupName', 'spec.source', 'spec.destination', 'spec.revision', 'spec.excludes[0]',
      'spec.strategy', 'spec.rollout.maxAttempts', 'spec.rollout.paused', 'spec.keepReleases'];
    for (const field of fields) expect(problems.some((p) => p.startsWith(field)), field).toBe(true);
    expect(problems.some((p) => p.startsWith('spec.excludes[1]'))).toBe(false);
    expect(problems).toContain('spec.strategy must be release or inplace, got "rsync"');
  });

  it('rejects links with the inplace strategy, a check command with arguments, and a bad retry instance id', () => {
    const problems = problemsOf(() => parseFleetSpec({
      ...MINIMAL, strategy: 'inplace', links: { media: '/mnt/efs/media' }, check: { command: '/bin/check --all' },
      retries: { 'web-1': 'req-1' },
    }));
    expect(problems).toContain('spec.links needs strategy release (inplace syncs straight into the destination)');
    expect(problems.some((p) => p.startsWith('spec.check.command') && p.includes('without arguments'))).toBe(true);
    expect(problems.some((p) => p.startsWith('spec.retries key') && p.includes('"web-1"'))).toBe(true);
  });

  it('rejects a link out of the release or to a system folder', () => {
    const problems = problemsOf(() => parseFleetSpec({ ...MINIMAL, links: { '../up': '/mnt/efs/media', media: '/etc' } }));
    expect(problems.some((p) => p.includes('"../up"') && p.includes('..'))).toBe(true);
    expect(problems.some((p) => p.startsWith('spec.links.media') && p.includes('system folder'))).toBe(true);
  });

  it.each(['www-data', 'app', '_svc', 'deploy_2', 'a'.repeat(32)])('keeps checkUser %j with a check', (user) => {
    const spec = parseFleetSpec({ ...MINIMAL, check: { command: '/usr/local/bin/app-healthcheck' }, checkUser: user });
    expect(spec.checkUser).toBe(user);
    expect(spec.check).toEqual({ command: '/usr/local/bin/app-healthcheck' });
  });

  it('leaves checkUser out when the file has none (the check then runs as the agent, root)', () => {
    expect(parseFleetSpec({ ...MINIMAL, check: { command: '/usr/local/bin/app-healthcheck' } })).not.toHaveProperty('checkUser');
  });

  it.each(['WWW', 'www data', '-app', '1app', 'a'.repeat(33), 'root;id', '', 'app$'])('rejects checkUser %j, saying what a user name is', (user) => {
    const problems = problemsOf(() => parseFleetSpec({ ...MINIMAL, check: { command: '/usr/local/bin/app-healthcheck' }, checkUser: user }));
    expect(problems).toEqual([`spec.checkUser ${JSON.stringify(user)} is not valid: use a Linux user name: a lowercase letter or _,`
      + ' then up to 31 lowercase letters, digits, _ and - (like www-data)']);
  });

  it('rejects checkUser without a check, saying how to fix it', () => {
    expect(problemsOf(() => parseFleetSpec({ ...MINIMAL, checkUser: 'www-data' }))).toEqual([
      'spec.checkUser needs a check to run as that user: add check: { command: /absolute/path/to/program }, or remove checkUser',
    ]);
  });

  it('rejects what is not an object', () => {
    expect(problemsOf(() => parseFleetSpec('revision: x'))).toEqual(['spec must be an object']);
    expect(problemsOf(() => parseFleetSpec({ ...MINIMAL, rollout: [] }))).toEqual(['spec.rollout must be an object']);
  });
});

describe('parseFleetResource', () => {
  it('returns the name and the complete spec', () => {
    const parsed = parseFleetResource({ apiVersion: 'fleetsync.dev/v1', kind: 'Fleet', metadata: { name: 'web-prod' }, spec: MINIMAL });
    expect(parsed.name).toBe('web-prod');
    expect(parsed.spec.revision).toBe('3f9c2ab');
  });

  it('names a wrong apiVersion, kind and name', () => {
    const problems = problemsOf(() => parseFleetResource({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'Web' }, spec: MINIMAL }));
    expect(problems).toContain('apiVersion must be fleetsync.dev/v1, got "v1"');
    expect(problems).toContain('kind must be Fleet, got "Deployment"');
    expect(problems.some((p) => p.startsWith('metadata.name "Web" is not valid'))).toBe(true);
  });
});
