/**
 * `edge-agent start --status-port 0` end to end in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core, as test/browser/browser-client.test.ts does): the real CLI on the emulated ALOHA with the demo π0
 * bundle serves the status page (no MCAP file, no Foxglove); the page renders the four cameras as the policy saw
 * them, joint plots with points, and a step counter that advances; a screenshot is kept under test-artifacts/; then
 * the e-stop button is clicked and the agent holds: the next tick after the latch is a hold with E_STOP (measured by
 * the page server in ticks), the CLI says the e-stop came from status-page, and SIGINT ends the run cleanly.
 * Loopback only.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../../../../test/chromium.js';
import { type CliProcess, CPU_QUIET_FLAGS, REPO_ROOT, runCli } from '../agent/helpers.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

/** The DOM as these checks use it. */
interface PageElement {
  complete?: boolean;
  naturalWidth?: number;
  naturalHeight?: number;
  dataset?: Record<string, string | undefined>;
  textContent: string | null;
  getAttribute(name: string): string | null;
}
interface PageDocument {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
/** `document`, inside functions run in the page (a global name there: the function's text is what runs). */
declare const dom: () => PageDocument;

let browser: Browser | null = null;
const running: CliProcess[] = [];
afterAll(async () => {
  await browser?.close();
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

describe('status page in headless Chromium', () => {
  it('renders the run live, and its e-stop button holds the robot on the next tick', async () => {
    requireChromium();
    const c = runCli([
      'start',
      '--robot',
      'aloha',
      ...CPU_QUIET_FLAGS,
      '--max-steps',
      '0',
      '--no-reset',
      '--status-port',
      '0',
    ]);
    running.push(c);
    const [launched, m] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
      c.waitForLine(/^status page on (http:\/\/127\.0\.0\.1:\d+)$/),
    ]);
    browser = launched;
    const url = m[1] as string;
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(() => {
      const g = globalThis as unknown as { dom: () => unknown; document: unknown };
      g.dom = () => g.document;
    });
    await page.goto(url);

    // Page-side checks are functions run in the page; `dom()` types the little of the DOM they use (this test is
    // compiled without the DOM lib; the page's CSP forbids evaluating strings).
    // cameras: every one got at least one decodable 224x224 JPEG
    await page.waitForFunction(
      () => {
        const imgs = [...dom().querySelectorAll('#cams img')];
        return imgs.length === 4 && imgs.every((i) => i.complete === true && (i.naturalWidth ?? 0) > 0);
      },
      undefined,
      { timeout: 20_000 },
    );
    const sizes = await page.evaluate(() =>
      [...dom().querySelectorAll('#cams img')].map((i) => [
        i.dataset?.camera,
        i.naturalWidth,
        i.naturalHeight,
      ]),
    );
    expect(sizes.map((s) => s[0])).toEqual(['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist']);
    for (const s of sizes) expect(s.slice(1)).toEqual([224, 224]);

    // plots: measured and command lines with points, chunk boundaries drawn
    await page.waitForFunction(
      () => {
        const pts = (sel: string): number =>
          (dom().querySelector(sel)?.getAttribute('points') ?? '').split(' ').filter(Boolean).length;
        return (
          pts('#joints polyline.pos') > 20 &&
          pts('#joints polyline.cmd') > 20 &&
          pts('#latency polyline.jit') > 20
        );
      },
      undefined,
      { timeout: 10_000 },
    );
    expect(await page.locator('#joints svg').count()).toBe(14);
    await page.waitForFunction(() => dom().querySelectorAll('#joints svg line.bnd').length > 0, undefined, {
      timeout: 10_000,
    });

    // the step counter advances
    const step0 = Number(await page.textContent('#step'));
    await page.waitForFunction((s) => Number(dom().querySelector('#step')?.textContent) > s + 10, step0, {
      timeout: 5_000,
    });
    expect(await page.textContent('#chunk')).toMatch(/^#\d+ at step \d+, [\d.]+ ms$/);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot: ${shot}`);

    // e-stop: click, the latch comes back, the next tick after the latch holds
    await page.click('#estop');
    await page.waitForSelector('#estop-state[data-held="true"]', { timeout: 5_000 });
    const st = await page.evaluate(() => {
      const s = (globalThis as unknown as { statusPage: Record<string, unknown> }).statusPage;
      const e = s.estop as Record<string, unknown>;
      return {
        ackMs: s.ackMs as number,
        latchedBackMs: s.latchedBackMs as number,
        heldBackMs: s.heldBackMs as number,
        source: e.source as string,
        ticksToHold: e.ticksToHold as number,
        latchToHoldMs: e.latchToHoldMs as number,
        requestToLatchMs: e.requestToLatchMs as number,
      };
    });
    expect(st.source).toBe('status-page');
    expect(st.ticksToHold).toBe(1);
    expect(await page.textContent('#estop-state')).toContain('LATCHED by status-page');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-estop.png'), fullPage: true });
    console.log(
      `status page e-stop: request->latch ${st.requestToLatchMs.toFixed(2)} ms (worker to loop thread), ` +
        `latch->hold ${st.ticksToHold} tick / ${st.latchToHoldMs.toFixed(2)} ms, ` +
        `click->ack ${st.ackMs.toFixed(1)} ms, click->latch seen ${st.latchedBackMs.toFixed(1)} ms, ` +
        `click->hold seen ${st.heldBackMs.toFixed(1)} ms (page, incl. the 10-tick batch)`,
    );
    await c.waitForLine(/e-stop latched by status-page: e-stop button on the status page/, 'stderr');
    expect(pageErrors).toEqual([]);

    c.child.kill('SIGINT');
    const { code } = await c.exited;
    expect(code).toBe(0);
    const out = c.stdout.join('\n');
    expect(out).toContain('e-stop by status-page (e-stop button on the status page)');
    const costLine = c.stdout.find((l) => /^status page http:\/\/127\.0\.0\.1:\d+: /.test(l));
    expect(costLine).toMatch(/1 e-stop requests; [\d.]+ ms of worker time for \d+ messages/);
    console.log(costLine);
  }, 60_000);
});
