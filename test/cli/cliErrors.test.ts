import { describe, expect, it } from 'vitest';
import { ControlPlaneError, ConflictError } from '../../controller/errors.ts';
import { EXIT_BAD_INPUT, EXIT_FAILED, UsageError, exitCodeOf, messageOf } from '../../controller/cli/cliErrors.ts';
import { ValidationError } from '../../state/validate.ts';

describe('CLI errors', () => {
  it('bad input is 2, everything else 1', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(EXIT_BAD_INPUT);
    expect(exitCodeOf(new ValidationError(['a']))).toBe(EXIT_BAD_INPUT);
    expect(exitCodeOf(new ConflictError('x'))).toBe(EXIT_FAILED);
    expect(exitCodeOf(new Error('x'))).toBe(EXIT_FAILED);
  });

  it('lists every validation problem', () => {
    expect(messageOf(new ValidationError(['one', 'two']))).toBe('\n  - one\n  - two');
  });

  it('says which AWS setting is missing when the SDK could not find one', () => {
    const credentials = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    expect(messageOf(new ControlPlaneError('list fleets failed', { cause: credentials }))).toContain('set AWS_PROFILE, or AWS_ACCESS_KEY_ID');
    expect(messageOf(new ControlPlaneError('list fleets failed: UnknownError: Region is missing'))).toContain('set AWS_REGION');
  });
});
