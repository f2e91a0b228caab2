import { readFileSync } from 'node:fs';

/**
 * Whether a process id names a live process (EPERM: it exists but belongs to someone else). A zombie (killed,
 * not yet reaped by its parent: common after `kill -9` in a container without an init) still answers signal 0,
 * so on Linux its state in /proc decides.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (macOS) or it went away: signal 0 is all there is to go on
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ")"
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}
