/**
 * The fleetsync CLI: `main(argv)` returns the exit code (design Contract: 0 done, 1 the operation failed,
 * 2 bad input). bin/fleetsync.js calls it; tests call it in-process with their own io.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { registerController } from './controllerCommand.ts';
import { registerSimulate } from './simulate.ts';
import { processIo, type CliIo } from './cliIo.ts';
import { EXIT_BAD_INPUT, EXIT_OK, exitCodeOf, messageOf } from './cliErrors.ts';
import { Session } from './session.ts';
import { checkTableName } from './storeContext.ts';
import { registerInit } from './commands/init.ts';
import { registerFleet } from './commands/fleet.ts';
import { registerDeploy } from './commands/deploy.ts';
import { registerStatus } from './commands/status.ts';
import { registerRollback } from './commands/rollback.ts';
import { registerPauseResume } from './commands/pauseResume.ts';
import { registerPromote } from './commands/promote.ts';
import { registerHistory } from './commands/history.ts';
import { registerRetry } from './commands/retry.ts';
import { registerPublish } from './commands/publish.ts';
import { registerGc } from './commands/gc.ts';
import { registerLocal } from './localCommand.ts';

export const VERSION = '0.1.0';

function tableOption(value: string): string {
  try {
    checkTableName(value, 'table');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

export function buildProgram(session: Session): Command {
  const { io } = session;
  const program = new Command('fleetsync')
    .description('keeps the codebase on every instance of an Auto Scaling group at the revision you ask for')
    .version(VERSION, '-V, --version')
    .option('--table <name>', 'DynamoDB table (AWS mode; default: $FLEETSYNC_TABLE, else the embedded default\'s store)', tableOption)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text),
    })
    .showHelpAfterError('(add --help to see the usage and an example)')
    .showSuggestionAfterError(true)
    .addHelpText('after', `
Where the store is:
  --table NAME or FLEETSYNC_TABLE   AWS mode: DynamoDB from the standard AWS settings (AWS_REGION, credentials,
                                    AWS_ENDPOINT_URL_DYNAMODB)
  neither                           the embedded default: the controller running in $FLEETSYNC_HOME (./.fleetsync),
                                    started with \`npm start\`

Exit codes: 0 done, 1 the operation failed, 2 bad input.

Example:
  $ fleetsync fleet apply -f fleet.yaml && fleetsync deploy web-prod 3f9c2ab && fleetsync status web-prod --watch
`);
  registerInit(program, session);
  registerFleet(program, session);
  registerDeploy(program, session);
  registerStatus(program, session);
  registerRollback(program, session);
  registerPauseResume(program, session);
  registerPromote(program, session);
  registerHistory(program, session);
  registerRetry(program, session);
  registerPublish(program, session);
  registerGc(program, session);
  registerSimulate(program, session);
  registerLocal(program, session);
  registerController(program, session);
  return program;
}

/**
 * Commander's own exits: help asked for and the version are success (exit code 0); everything else it rejects,
 * help shown for a missing command included, is bad input (commander would say 1).
 */
function commanderExitCode(err: CommanderError): number {
  return err.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const session = new Session(io);
  try {
    await buildProgram(session).parseAsync(argv, { from: 'user' });
    return session.exitCode ?? EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) return commanderExitCode(err);
    session.err(`error: ${messageOf(err)}`);
    return exitCodeOf(err);
  } finally {
    session.close();
  }
}
