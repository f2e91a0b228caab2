/**
 * `fleetsync local scale FLEET N`: adds or removes hosts of a local fleet (the embedded default's folders in
 * $FLEETSYNC_HOME/hosts/), as scaling an Auto Scaling group would. It changes the local group file only; the
 * running controller notices at its next pass.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Argument, type Command } from 'commander';
import type { Session } from './session.ts';
import { example, fleetArgument } from './args.ts';
import { OperationError, UsageError } from './cliErrors.ts';
import { wholeNumber } from './output.ts';
import { fleetsyncHome } from './storeContext.ts';
import { NotFoundError } from '../errors.ts';
import { LocalFleet, MAX_LOCAL_HOSTS } from '../local/localFleet.ts';
import { LocalGroup, homeProblem } from '../local/localGroup.ts';
import { CONTROLLER_FILE } from '../local/embedded.ts';
import { pidAlive } from '../local/pid.ts';

async function controllerRuns(home: string): Promise<boolean> {
  try {
    const info = JSON.parse(await readFile(path.join(home, CONTROLLER_FILE), 'utf8')) as { pid?: unknown };
    return typeof info.pid === 'number' && pidAlive(info.pid);
  } catch {
    return false;
  }
}

export function registerLocal(program: Command, session: Session): void {
  const local = program.command('local')
    .description('the embedded default\'s local fleets, whose hosts are folders in $FLEETSYNC_HOME/hosts/');
  example(
    local.command('scale')
      .description('set how many hosts a local fleet has: new hosts wait in Pending:Wait until the controller has synced'
        + ' them and puts them in service; removed hosts (the newest first) go Terminating, then leave')
      .addArgument(fleetArgument())
      .addArgument(new Argument('<count>', `hosts wanted, 0-${MAX_LOCAL_HOSTS}`).argParser(wholeNumber(0, MAX_LOCAL_HOSTS)))
      .option('--warm-pool <n>', 'hosts the fleet keeps stopped in a warm pool (synced as they launch into it, and again when '
        + 'a scale-up starts them); kept until changed', wholeNumber(0, MAX_LOCAL_HOSTS)),
    'fleetsync local scale demo 5', 'fleetsync local scale demo 6 --warm-pool 2', 'fleetsync status demo --watch',
  ).action(async (fleet: string, count: number, flags: { warmPool?: number }) => {
    const home = fleetsyncHome(session.io.env, session.io.cwd);
    const problem = homeProblem(home);
    if (problem) throw new UsageError(problem);
    const { clock } = session.io;
    const group = new LocalGroup({ home, clock });
    const fleetPort = new LocalFleet({ group, clock });
    let result;
    try {
      result = await fleetPort.scale({ group: fleet, count, ...(flags.warmPool !== undefined ? { warmPool: flags.warmPool } : {}) });
    } catch (err) {
      if (err instanceof NotFoundError) throw new OperationError(err.message, { cause: err });
      throw err;
    }
    const { before, added, removing, warmed } = result;
    if (added.length === 0 && removing.length === 0 && warmed.length === 0) {
      session.out(`local fleet ${fleet} already has ${count} host(s): nothing to do`);
    } else if (added.length > 0) {
      session.out(`local fleet ${fleet}: ${before} -> ${count} hosts; added in Pending:Wait:`);
      for (const id of added) session.out(`  ${id}  ${path.join(group.hostsDir, id)}`);
      session.out('the controller syncs them to the fleet\'s revision, then puts them in service');
    } else if (removing.length > 0) {
      session.out(`local fleet ${fleet}: ${before} -> ${count} hosts; Terminating (their folders move to ${path.join(group.hostsDir, '.terminated')}):`);
      for (const id of removing) session.out(`  ${id}`);
    }
    if (warmed.length > 0) {
      session.out(`launched into the warm pool (Warmed:Pending:Wait; synced, then stopped there):`);
      for (const id of warmed) session.out(`  ${id}  ${path.join(group.hostsDir, id)}`);
    }
    if (added.length + warmed.length > 0 && !(await controllerRuns(home))) {
      session.out(`note: no controller is running in ${home}: the new hosts wait until you start it with \`npm start\``);
    }
    session.out(`follow it with \`fleetsync status ${fleet} --watch\``);
    session.exitCode = 0;
  });
}
