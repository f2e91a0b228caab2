import { describe, expect, it } from 'vitest';
import { fleetsyncHome } from '../../controller/cli/storeContext.ts';
import { homeProblem } from '../../controller/local/localGroup.ts';

describe('fleetsyncHome', () => {
  it('is ./.fleetsync of the working folder by default, and FLEETSYNC_HOME when set', () => {
    expect(fleetsyncHome({}, '/home/me/fleetsync')).toBe('/home/me/fleetsync/.fleetsync');
    expect(fleetsyncHome({ FLEETSYNC_HOME: 'state' }, '/srv/app')).toBe('/srv/app/state');
  });

  it('moves the default out of a system folder (a clone in /root), the same for every call from there, and the local fleet accepts it', () => {
    const home = fleetsyncHome({}, '/root/fleetsync');
    expect(home).toMatch(/^\/var\/tmp\/fleetsync-[0-9a-f]{12}$/);
    expect(fleetsyncHome({}, '/root/fleetsync')).toBe(home);
    expect(fleetsyncHome({}, '/usr/src/app')).not.toBe(home);
    expect(homeProblem(home)).toBeUndefined();
    expect(homeProblem('/root/fleetsync/.fleetsync')).toMatch(/inside the system folder \/root/);
    // set by hand, it is taken as it is (and refused with that message when the controller starts)
    expect(fleetsyncHome({ FLEETSYNC_HOME: '/root/x' }, '/root')).toBe('/root/x');
  });
});
