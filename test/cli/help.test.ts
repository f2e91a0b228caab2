/** Every command explains itself: --help exits 0 with an example; no command given is bad input. */
import { describe, expect, it } from 'vitest';
import { run } from './cliHarness.ts';

const COMMANDS = [['init'], ['fleet'], ['fleet', 'apply'], ['fleet', 'list'], ['deploy'], ['status'], ['rollback'],
  ['pause'], ['resume'], ['history'], ['retry']];

describe('help', () => {
  it.each(COMMANDS.map((c) => [c.join(' '), c]))('%s --help exits 0 with an example', async (_name, command) => {
    const result = await run([...command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: fleetsync ${command.join(' ')}`);
    expect(result.stdout).toMatch(/Examples?:\n {2}\$ fleetsync /);
  });

  it('help COMMAND and --version exit 0', async () => {
    expect((await run(['help', 'deploy'])).stdout).toContain('Usage: fleetsync deploy');
    expect((await run(['help', 'deploy'])).code).toBe(0);
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('no command at all shows the help on stderr and exits 2', async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: fleetsync');
  });
});
