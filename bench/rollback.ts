/**
 * Benchmark: rollback to a kept release. One local host goes r1 -> r2 -> r1 with a 2,000-file revision (1% changed
 * between the two), published (manifest + objects) and as a plain folder, both from file:///. The last step is
 * the rollback: the kept releases/r1 is still as it was placed, so it goes live without a download or a hash.
 *
 *   node --import tsx bench/rollback.ts [--files 2000] [--runs 5]
 *
 * Seconds: wall time of the whole host agent run (Python start-up included), the median of --runs rollbacks
 * (each preceded by a sync back to r2), as the agent's result line reports nothing finer than whole seconds.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { codebase, publishToFolder, writeTreeFiles } from '../test/support/publishedRevision.ts';
import { runScript, syncArgs } from '../test/support/hostScript.ts';

const { values } = parseArgs({ options: { files: { type: 'string', default: '2000' }, runs: { type: 'string', default: '5' } } });
const FILES = Number(values.files);
const RUNS = Number(values.runs);

async function timed(args: string[]): Promise<{ ms: number; result: Record<string, unknown> }> {
  const started = process.hrtime.bigint();
  const run = await runScript(args, { timeoutMs: 600_000 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.code !== 0) throw new Error(`sync failed: ${run.stdout} ${run.stderr}`);
  return { ms, result: run.result as unknown as Record<string, unknown> };
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-bench-rollback-'));
  const changed = Array.from({ length: Math.max(1, Math.round(FILES / 100)) }, (_, i) => i * 100);
  const r1 = codebase(FILES);
  const r2 = codebase(FILES, changed);
  const published = path.join(work, 'published');
  await mkdir(published);
  await publishToFolder(published, 'r1', r1);
  await publishToFolder(published, 'r2', r2);
  const plain = path.join(work, 'plain');
  await writeTreeFiles(path.join(plain, 'r1'), r1);
  await writeTreeFiles(path.join(plain, 'r2'), r2);
  console.log(`rollback to a kept ${FILES}-file release (${changed.length} files differ), median of ${RUNS}:`);
  console.log('| source | rollback seconds | downloadedFiles | hashedFiles | update r1 -> r2 seconds |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [name, root, host] of [['published, file://', published, 'a'], ['plain folder, file://', plain, 'b']] as const) {
    const dest = path.join(work, `host-${host}`);
    const sync = (revision: string) => syncArgs({ source: `file://${root}`, revision, destination: dest });
    await timed(sync('r1'));
    const rollbacks: number[] = [];
    const updates: number[] = [];
    let last: Record<string, unknown> = {};
    for (let i = 0; i < RUNS; i++) {
      updates.push((await timed(sync('r2'))).ms);
      const back = await timed(sync('r1'));
      rollbacks.push(back.ms);
      last = back.result;
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    console.log(`| ${name} | ${(median(rollbacks) / 1000).toFixed(3)} | ${String(last.downloadedFiles)} | ${String(last.hashedFiles)} | ${(median(updates) / 1000).toFixed(3)} |`);
  }
  await rm(work, { recursive: true, force: true });
}

await main();
