/**
 * The system tools the test suite needs beyond Node, and what to do when some are missing: install them (as
 * root, with apt-get or dnf, saying what and why) or stop with the one command to run. Pure decisions here;
 * test/support/ensureTools.ts looks at the machine and carries them out before `npm test` runs anything else.
 */

export interface TestTool {
  /** the command the tests run */
  tool: string;
  /** why the tests need it, for the message before installing */
  why: string;
  /** Debian/Ubuntu package */
  apt: string;
  /** dnf takes a file and installs the package holding it: awscli2 on Fedora, awscli-2 on Amazon Linux 2023 */
  dnf: string;
  /** where to get it when no package manager can */
  elsewhere: string;
}

/** One row per tool. */
export const TEST_TOOLS: readonly TestTool[] = [
  {
    tool: 'aws', why: 'the host agent tests download revisions from a local S3 (s3rver) with the aws CLI, as hosts do',
    apt: 'awscli', dnf: '/usr/bin/aws',
    elsewhere: 'the aws CLI v2 installer (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html) or `pip install awscli`',
  },
  {
    tool: 'python3', why: 'the host agent the tests drive (deploy/host/fleetsync_agent/) is Python 3',
    apt: 'python3', dnf: '/usr/bin/python3',
    elsewhere: 'https://www.python.org/downloads/ (3.9 or later)',
  },
  {
    tool: 'chromium', why: 'the dashboard tests (test/browser) drive headless Chromium with playwright-core',
    apt: 'chromium', dnf: '/usr/bin/chromium-browser',
    elsewhere: 'your distribution\'s Chromium package (playwright-core never downloads a browser)',
  },
  {
    tool: 'shellcheck', why: 'a test lints the host script with shellcheck',
    apt: 'shellcheck', dnf: '/usr/bin/shellcheck',
    elsewhere: 'a release from https://github.com/koalaman/shellcheck#installing',
  },
];

export type PackageManager = 'apt-get' | 'dnf';

export interface Machine {
  /** the table's tools not found on PATH */
  missing: readonly TestTool[];
  isRoot: boolean;
  /** the package manager on PATH, apt-get first */
  manager: PackageManager | undefined;
}

export type ToolPlan =
  | { kind: 'ready' }
  | { kind: 'install'; manager: PackageManager; packages: string[]; commands: string[][]; message: string }
  | { kind: 'stop'; message: string };

function installCommands(manager: PackageManager, packages: string[], sudo: boolean): string[][] {
  const s = sudo ? ['sudo'] : [];
  return manager === 'apt-get'
    ? [[...s, 'apt-get', 'update'], [...s, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages]]
    : [[...s, 'dnf', 'install', '-y', ...packages]];
}

export function shellLine(commands: string[][]): string {
  return commands.map((argv) => argv.join(' ')).join(' && ');
}

function names(missing: readonly TestTool[]): string {
  return missing.map((t) => t.tool).join(', ');
}

/** What to do about the missing tools on this machine. */
export function planTools(machine: Machine): ToolPlan {
  const { missing, isRoot, manager } = machine;
  if (missing.length === 0) return { kind: 'ready' };
  const needs = `the tests need ${names(missing)}, not found on PATH (${missing.map((t) => `${t.tool}: ${t.why}`).join('; ')})`;
  if (manager === undefined) {
    return {
      kind: 'stop',
      message: `${needs}. No apt-get or dnf here: install ${missing.map((t) => `${t.tool} from ${t.elsewhere}`).join(', and ')};`
        + ' then run npm test again.',
    };
  }
  const packages = missing.map((t) => t[manager === 'apt-get' ? 'apt' : 'dnf']);
  if (!isRoot) {
    return {
      kind: 'stop',
      message: `${needs}. Install them, then run npm test again:\n  ${shellLine(installCommands(manager, packages, true))}`,
    };
  }
  const commands = installCommands(manager, packages, false);
  return {
    kind: 'install', manager, packages, commands,
    message: `${needs}. Running as root, so installing them now: ${shellLine(commands)}`,
  };
}

/** Why an install did not give the tools, and what to run instead. */
export function installFailed(args: { plan: Extract<ToolPlan, { kind: 'install' }>; failed?: string; stillMissing: readonly TestTool[] }): string {
  const { plan, failed, stillMissing } = args;
  const what = failed !== undefined ? `${failed} failed` : `after ${shellLine(plan.commands)}, ${names(stillMissing)} is still not on PATH`;
  return `${what}: install ${stillMissing.map((t) => `${t.tool} from ${t.elsewhere}`).join(', and ')}; then run npm test again.`;
}
