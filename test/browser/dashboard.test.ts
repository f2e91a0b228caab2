/**
 * The dashboard in a real browser (headless Chromium) against the embedded default: the controller in this
 * process (dynalite, the local fleet `demo`, the real host script), the operator CLI through main(argv) as a
 * user types it in another terminal, and the page followed live without a reload.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../controller/embedded.ts';
import { Manager } from '../../controller/manager.ts';
import { realClock } from '../../controller/clock/realClock.ts';
import { silentLogger } from '../../controller/log.ts';
import { DEFAULT_SETTINGS } from '../../controller/reconciler/settings.ts';
import { DEFAULT_SCRIPT_PATH } from '../../controller/local/localCommands.ts';
import { Metrics } from '../../controller/metrics.ts';
import { startHttpServer, type HttpServer } from '../../controller/http.ts';
import { fleetDetail } from '../../controller/status/dashboardView.ts';
import { run } from '../cli/cliHarness.ts';
import { tempHome, waitFor } from '../local/helpers.ts';
import { openBrowser, outputFile, type Browser } from './browser.ts';

const XSS = '<img src=x onerror=alert(1)>';

let home: string;
let removeHome: () => Promise<void>;
let embedded: Embedded;
let http: HttpServer;
let stopManager: () => Promise<void>;
let browser: Browser;

/**
 * The real host script, 1.5 s slower for v2: a three-host rollout of the sample app otherwise ends between two
 * polls of the page (one a second), and the test would not see it in progress.
 */
async function slowScript(): Promise<string> {
  const dir = path.join(home, 'test-script');
  await mkdir(dir, { recursive: true });
  const script = path.join(dir, 'slow-sync.sh');
  await writeFile(script, `case " $* " in *" --revision v2 "*) sleep 1.5 ;; esac\nexec bash ${JSON.stringify(DEFAULT_SCRIPT_PATH)} "$@"\n`);
  await chmod(script, 0o755);
  return script;
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(argv, { env: { FLEETSYNC_HOME: home } });
}

beforeAll(async () => {
  ({ home, remove: removeHome } = await tempHome('fleetsync-browser-'));
  const [scriptPath, opened] = await Promise.all([slowScript(), openBrowser()]);
  browser = opened;
  embedded = await startEmbedded({ home, log: silentLogger, clock: realClock, scriptPath });
  const manager = new Manager({
    store: embedded.store, fleetPort: embedded.fleetPort, commands: embedded.commands, traffic: embedded.traffic,
    artifacts: embedded.artifacts, clock: realClock, random: Math.random, holder: `browser-test-${process.pid}`,
    settings: { ...DEFAULT_SETTINGS, resyncMs: 500, pollMs: 200, specPollMs: 200, batchWindowMs: 100, statusDebounceMs: 50 },
    leader: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 },
    fleetScanMs: 300,
    log: silentLogger,
  });
  const abort = new AbortController();
  const running = manager.run(abort.signal);
  stopManager = async () => {
    abort.abort();
    await running;
  };
  http = await startHttpServer({
    host: '127.0.0.1', port: 0, store: embedded.store, health: manager, registry: new Metrics({ clock: realClock }).registry,
    clock: realClock, stuckAfterMs: 60_000, log: silentLogger, cliPrefix: 'npx fleetsync',
  });
  await embedded.announce(http.url);
  await waitFor('the demo fleet at v1', async () => {
    const fleet = await fleetDetail(embedded.store, 'demo');
    return fleet?.conditions.Ready?.status === 'True' && fleet.atDesired === 3;
  }, 20_000, 100);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await http?.close();
  await stopManager?.();
  await embedded?.close();
  await removeHome?.();
});

/** The hosts table of the fleet page as the operator reads it: instance id to reported revision. */
async function reportedRevisions(): Promise<Record<string, string>> {
  const rows = browser.page.locator('.hosts-table tbody tr');
  const out: Record<string, string> = {};
  for (const row of await rows.all()) out[await row.locator('td.id').innerText()] = await row.locator('td').nth(3).innerText();
  return out;
}

describe('the dashboard in headless Chromium, on the embedded default', () => {
  it('lists the demo fleet with its 3 hosts at v1, and its page shows each host at v1', async () => {
    const { page } = browser;
    await page.goto(`${http.url}/`);
    const row = page.locator('tr[data-fleet="demo"]');
    await row.waitFor({ timeout: 5_000 });
    const cells = await row.locator('td').allInnerTexts();
    expect(cells.slice(0, 3)).toEqual(['demo', 'v1', 'v1']);
    expect(cells[7]).toBe('3');
    expect(await row.locator('.progress-text').innerText()).toBe('3/3 at v1');

    await row.locator('a').click();
    await page.waitForURL(`${http.url}/fleets/demo`);
    await page.locator('.hosts-table tbody tr').nth(2).waitFor({ timeout: 5_000 });
    const ids = (await embedded.store.listHosts('demo')).hosts.map((h) => h.instanceId).sort();
    expect(await reportedRevisions()).toEqual(Object.fromEntries(ids.map((id) => [id, 'v1'])));
    expect(await page.locator('.command .cmd').allInnerTexts()).toContain('npx fleetsync deploy demo <revision> --reason "<why>"');
  });

  it('after `fleetsync deploy demo v2`, shows the rollout progressing, then every host at v2, without a reload', async () => {
    const { page } = browser;
    // a full reload would lose this (code for the page is a string: the project's types are Node's, without the DOM)
    await page.evaluate('window.notReloaded = true');
    const deploy = await cli('deploy', 'demo', 'v2');
    expect(deploy.code, deploy.stderr).toBe(0);
    const deployedAt = Date.now();
    await page.locator('.facts dd', { hasText: /^v2$/ }).first().waitFor({ timeout: 5_000 });
    const seenAfterMs = Date.now() - deployedAt;

    // in progress: some hosts at v2, some not yet, while the rollout runs (each host's sync lasts over a poll)
    const progressText = page.locator('.head .progress-text');
    const condition = (type: string) => page.locator(`.head [data-condition="${type}"]`);
    await expect.poll(async () => `${await progressText.textContent()}, Progressing ${await condition('Progressing').textContent()}`,
      { timeout: 10_000, interval: 100 }).toMatch(/^[12]\/3 at v2, Progressing True$/);
    await page.screenshot({ path: await outputFile('dashboard-rollout.png'), fullPage: true });

    await expect.poll(async () => `${await progressText.textContent()}, Ready ${await condition('Ready').textContent()}`,
      { timeout: 30_000, interval: 100 }).toBe('3/3 at v2, Ready True');
    expect(Object.values(await reportedRevisions())).toEqual(['v2', 'v2', 'v2']);
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    // the controller writes the rolloutFinished event just after the status that says Ready: a poll or two later
    await expect.poll(() => page.locator('.history tbody tr').first().locator('td').nth(1).innerText(),
      { timeout: 5_000, interval: 100 }).toBe('rolloutFinished');
    // the chart drew the rollout: its legend counts the hosts in sync at v2
    await expect.poll(() => page.locator('.rollout-chart .legend').textContent(), { timeout: 5_000, interval: 100 })
      .toBe('hosts in sync at v2: 3/3');
    // the page followed the change within about 2 s (one poll a second)
    expect(seenAfterMs).toBeLessThan(2_500);
  });

  it(`a history reason of ${XSS} shows as text and runs nothing`, async () => {
    const { page } = browser;
    const pause = await cli('pause', 'demo', '--reason', XSS);
    expect(pause.code, pause.stderr).toBe(0);
    const reason = page.locator('.history tbody tr').first().locator('td.reason');
    await expect.poll(() => reason.textContent(), { timeout: 5_000 }).toBe(XSS);
    await page.locator('.badge.paused').waitFor({ timeout: 5_000 });
    expect(await page.locator('.command .cmd').allInnerTexts()).toContain('npx fleetsync resume demo --reason "<why>"');
    // had it become an element, the broken image would have fired onerror by now
    await page.waitForTimeout(500);
    expect(await page.locator('img').count()).toBe(0);
    expect(browser.dialogs).toEqual([]);
    expect((await cli('resume', 'demo')).code).toBe(0);

    // the address bar is input too: a "fleet name" with markup is text, and is not fetched
    await page.goto(`${http.url}/fleets/${encodeURIComponent('<b id=injected>x</b>')}`);
    await expect.poll(() => page.locator('main .error').textContent()).toBe('<b id=injected>x</b> is not a fleet name (lower-case letters, digits and -).');
    expect(await page.locator('#injected').count()).toBe(0);
  });

  it('serves a Content-Security-Policy with no inline script and nothing from another origin, and nosniff', async () => {
    for (const url of [`${http.url}/`, `${http.url}/fleets/demo`, `${http.url}/api/fleets`, `${http.url}/assets/app.js`]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, url).toContain("default-src 'none'");
      expect(csp, url).toContain("script-src 'self'");
      expect(csp, url).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
      expect(res.headers.get('x-content-type-options'), url).toBe('nosniff');
    }
    const html = await (await fetch(`${http.url}/`)).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/\bon[a-z]+=/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    // only the files of web/ are served, by name: nothing else of the file system
    for (const probe of ['/assets/..%2fpackage.json', '/assets/../package.json', '/assets/dashboard.ts', '/api/fleets/..%2f..']) {
      expect((await fetch(`${http.url}${probe}`)).status, probe).not.toBe(200);
    }
    // read-only: nothing but GET is served
    expect((await fetch(`${http.url}/api/fleets/demo`, { method: 'POST' })).status).toBe(405);
  });

  it('the pages logged no console errors', async () => {
    const { page } = browser;
    await page.goto(`${http.url}/`);
    await page.locator('tr[data-fleet="demo"]').waitFor({ timeout: 5_000 });
    await page.waitForTimeout(1_200);
    expect(browser.errors).toEqual([]);
  });

  it('says its data is stale when the controller stops answering', async () => {
    const { page } = browser;
    await page.goto(`${http.url}/fleets/demo`);
    await page.locator('.hosts-table tbody tr').first().waitFor({ timeout: 5_000 });
    expect(await page.locator('#banner').isHidden()).toBe(true);
    await http.close();
    await page.locator('#banner', { hasText: 'No fresh data from the controller' }).waitFor({ timeout: 8_000 });
    expect(await page.locator('#live').textContent()).toMatch(/^stale/);
    // what was shown stays
    expect(Object.values(await reportedRevisions())).toEqual(['v2', 'v2', 'v2']);
  });
});
