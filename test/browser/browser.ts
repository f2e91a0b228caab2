/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` package driven by playwright-core (no browser
 * download), a fresh profile per launch, and every console message and dialog recorded so a test can assert
 * there were none.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FLEETSYNC_CHROMIUM || '/usr/bin/chromium';
/** screenshots and measurements of a run (gitignored) */
export const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface Browser {
  page: Page;
  /** console messages of type error, and page errors (uncaught exceptions) */
  errors: string[];
  /** messages of alert/confirm/prompt dialogs the page opened (each dismissed) */
  dialogs: string[];
  close(): Promise<void>;
}

/** Fails (never skips) when the browser is missing, saying how to install it. */
export function requireChromium(executable = CHROMIUM): void {
  if (!existsSync(executable)) {
    throw new Error(`the dashboard's browser tests need Chromium at ${executable}: install Debian's package with`
      + ' `apt-get install -y chromium` (CI installs it), or point FLEETSYNC_CHROMIUM at a Chromium binary');
  }
}

export async function openBrowser(viewport = { width: 1280, height: 1000 }): Promise<Browser> {
  requireChromium();
  const profile = await mkdtemp(path.join(os.tmpdir(), 'fleetsync-chromium-'));
  let context: BrowserContext;
  try {
    // a persistent context is how playwright takes a --user-data-dir of our own: a fresh one, removed after
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: FLAGS, viewport, timeout: 20_000,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? await context.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return {
    page, errors, dialogs,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function outputFile(name: string): Promise<string> {
  await mkdir(OUTPUT_DIR, { recursive: true });
  return path.join(OUTPUT_DIR, name);
}
