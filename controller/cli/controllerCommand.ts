/** `fleetsync controller`: the long-running service (what `npm start` runs). */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { realClock } from '../clock/realClock.ts';
import { runService } from '../service.ts';
import { ConfigError } from '../errors.ts';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK } from './cliErrors.ts';
import type { Session } from './session.ts';
import { example } from './args.ts';

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return Number(value);
}

interface ControllerFlags {
  httpPort?: number;
  config?: string;
  fleets?: string;
  logLevel?: string;
}

export function registerController(program: Command, session: Session): void {
  const command = program
    .command('controller')
    .description('run the controller: AWS mode when FLEETSYNC_TABLE (or --table) is set, else the embedded default in $FLEETSYNC_HOME')
    .option('--http-port <port>', 'HTTP port for /healthz /readyz /metrics /status (default $FLEETSYNC_HTTP_PORT or 9870)', port)
    .option('--config <file>', 'settings file, JSON or YAML (default $FLEETSYNC_CONFIG)')
    .option('--fleets <names>', 'only these fleets, comma separated (default: every fleet in the table)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default $FLEETSYNC_LOG_LEVEL or info)')
    .action(async (flags: ControllerFlags, cmd: Command) => {
      const { io } = session;
      const { table } = cmd.optsWithGlobals<{ table?: string }>();
      let config;
      try {
        config = await loadConfig({
          env: io.env,
          ...(flags.config ? { file: flags.config } : {}),
          flags: {
            table, httpPort: flags.httpPort, logLevel: flags.logLevel,
            fleets: flags.fleets?.split(',').map((s) => s.trim()).filter(Boolean),
          },
        });
      } catch (error) {
        session.err(`error: ${(error as Error).message}`);
        session.exitCode = error instanceof ConfigError ? EXIT_BAD_INPUT : EXIT_FAILED;
        return;
      }
      const pretty = process.stdout.isTTY === true && !io.env.FLEETSYNC_LOG_FORMAT;
      const log = createLogger({ level: config.logLevel, pretty });
      session.err(config.table ? `fleetsync: AWS mode (FLEETSYNC_TABLE=${config.table})` : 'fleetsync: embedded default (no FLEETSYNC_TABLE set; no AWS account needed)');
      const abort = new AbortController();
      const stop = (sig: string): void => {
        if (abort.signal.aborted) return;
        session.err(`fleetsync: ${sig}: stopping`);
        abort.abort(new Error(sig));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      try {
        await runService({
          config, clock: realClock, random: Math.random, log, cwd: io.cwd, say: (line) => session.err(line), signal: abort.signal,
        });
        session.exitCode = EXIT_OK;
      } catch (error) {
        session.err(`error: ${(error as Error).message}`);
        log.error({ err: error }, 'controller failed');
        session.exitCode = error instanceof ConfigError ? EXIT_BAD_INPUT : EXIT_FAILED;
      }
    });
  example(command,
    'npm start                                   # the embedded default: local hosts, no AWS account',
    'FLEETSYNC_TABLE=fleetsync AWS_REGION=eu-west-1 fleetsync controller --http-port 9870');
}
