/** Link names must name one folder inside the release, the same way the host script reads them. */
import { describe, expect, it } from 'vitest';
import { ValidationError, parseFleetSpec } from '../../state/validate.ts';

const spec = (links: Record<string, string>) => ({
  autoScalingGroupName: 'web-asg', source: 's3://my-codebase/web', destination: '/var/www/app', revision: 'r1', links,
});

describe('spec.links', () => {
  it.each(['media', 'shared/uploads', '.well-known'])('accepts %j', (name) => {
    expect(parseFleetSpec(spec({ [name]: '/mnt/efs/media' })).links).toEqual({ [name]: '/mnt/efs/media' });
  });

  it.each(['.', './media', 'a/./b', '..', 'a/../b'])('refuses %j, saying which segments are not allowed', (name) => {
    expect(() => parseFleetSpec(spec({ [name]: '/mnt/efs/media' }))).toThrow(ValidationError);
    expect(() => parseFleetSpec(spec({ [name]: '/mnt/efs/media' }))).toThrow(/must not contain a "\." or "\.\." segment/);
  });

  it('refuses a link into a system folder', () => {
    expect(() => parseFleetSpec(spec({ media: '//etc/.' }))).toThrow(/system folder/);
  });
});
