/**
 * The LaunchEvents port over local groups, shaped like the AWS one: a folder per group stands for its SQS queue
 * (`$FLEETSYNC_HOME/launch-events/<group>/`), each file holds one event as EventBridge's JSON, and the fleet's
 * leader takes the files (reads, then deletes them). `fleetsync local scale` runs in another process than the
 * controller, so a folder, not memory, carries the events between them; a file left by a stopped controller is
 * taken by the next leader, and asks for one pass that finds nothing new.
 */
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { launchEventJson, parseLaunchEvent } from '../../state/launchEvent.ts';
import type { Clock } from '../ports/clock.ts';
import type { LaunchEvent, LaunchEvents } from '../ports/launchEvents.ts';
import { silentLogger, type Logger } from '../log.ts';

export const LAUNCH_EVENTS_FOLDER = 'launch-events';
/** how often the leader looks into its group's folder: a launch is seen within this */
const POLL_MS = 250;

export interface LocalLaunchEventsOptions {
  /** $FLEETSYNC_HOME, absolute */
  home: string;
  clock: Clock;
  log?: Logger;
}

export class LocalLaunchEvents implements LaunchEvents {
  private readonly log: Logger;
  private written = 0;

  constructor(private readonly o: LocalLaunchEventsOptions) {
    this.log = o.log ?? silentLogger;
  }

  /** The group's folder; the name is encoded, as a group name may hold a slash. */
  folder(group: string): string {
    return path.join(this.o.home, LAUNCH_EVENTS_FOLDER, encodeURIComponent(group));
  }

  /** Sends the event, written whole (a temporary file renamed), so a reader never takes half of one. */
  async publish(event: LaunchEvent): Promise<void> {
    const dir = this.folder(event.autoScalingGroupName);
    await mkdir(dir, { recursive: true });
    const nowMs = this.o.clock.nowMs();
    const name = `${String(nowMs).padStart(15, '0')}-${process.pid}-${this.written++}-${event.instanceId}`;
    await writeFile(path.join(dir, `${name}.tmp`), launchEventJson(event, new Date(nowMs).toISOString()));
    await rename(path.join(dir, `${name}.tmp`), path.join(dir, `${name}.json`));
  }

  async follow(args: { autoScalingGroupName: string; signal: AbortSignal; onEvent: (event: LaunchEvent) => void }): Promise<void> {
    const { autoScalingGroupName: group, signal } = args;
    const dir = this.folder(group);
    while (!signal.aborted) {
      for (const file of await this.pending(dir)) {
        if (signal.aborted) return;
        await this.take({ file: path.join(dir, file), group, onEvent: args.onEvent });
      }
      try {
        await this.o.clock.sleep(POLL_MS, signal);
      } catch {
        return;
      }
    }
  }

  private async pending(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ dir, err: error }, 'cannot read the launch-event folder');
      return [];
    }
  }

  private async take(args: { file: string; group: string; onEvent: (event: LaunchEvent) => void }): Promise<void> {
    let text: string;
    try {
      text = await readFile(args.file, 'utf8');
    } catch (error) {
      this.log.warn({ file: args.file, err: error }, 'cannot read a launch event');
      return;
    }
    // Deleted before it is handled: one file is one event, never an endless one if handling throws.
    await unlink(args.file).catch(() => undefined);
    const parsed = parseLaunchEvent(text);
    if ('problem' in parsed) {
      this.log.warn({ file: args.file, problem: parsed.problem }, 'malformed launch event: deleted');
      return;
    }
    if (parsed.event.autoScalingGroupName !== args.group) {
      this.log.warn({ file: args.file, eventGroup: parsed.event.autoScalingGroupName }, 'a launch event of another group in this folder: deleted');
      return;
    }
    args.onEvent(parsed.event);
  }
}
