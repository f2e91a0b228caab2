/** One run of the CLI: its io, the store it opened (once, lazily) and the exit code its command chose. */
import type { Command } from 'commander';
import type { CliIo } from './cliIo.ts';
import { openStoreContext, type StoreContext } from './storeContext.ts';

export class Session {
  exitCode: number | undefined;
  private context: StoreContext | undefined;

  constructor(readonly io: CliIo) {}

  /** The store named by --table / FLEETSYNC_TABLE, else the embedded default's. */
  async open(command: Command): Promise<StoreContext> {
    if (!this.context) {
      const { table } = command.optsWithGlobals<{ table?: string }>();
      this.context = await openStoreContext({
        env: this.io.env, cwd: this.io.cwd, clock: this.io.clock, ...(table !== undefined ? { table } : {}),
      });
    }
    return this.context;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  close(): void {
    this.context?.close();
    this.context = undefined;
  }
}
