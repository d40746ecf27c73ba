import { existsSync } from 'node:fs';
import type { Browser, Page } from 'puppeteer-core';

/** The system's Chromium (Debian's `chromium` package, which .ci/run installs), or null. */
export function findChromium(): string | null {
  const env = process.env['CHROMIUM_PATH'];
  const candidates = [env, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(
    (p): p is string => !!p,
  );
  return candidates.find((p) => existsSync(p)) ?? null;
}

export const NO_CHROMIUM = 'chromium not installed (apt-get install chromium; .ci/run does): browser test skipped';

export async function launch(executablePath: string): Promise<Browser> {
  const { launch: start } = await import('puppeteer-core');
  return start({
    executablePath,
    headless: true,
    // No bound on a start whose speed is the machine's: Chromium either comes up or exits (which rejects).
    timeout: 0,
    // One protocol call left unanswered this long is a stuck browser; a slow one is not (3 minutes,
    // puppeteer's default, passed by under stress-ng beside CI while the page was still drawing).
    protocolTimeout: 600_000,
    // Root in a container has no user namespace for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
}

export interface WatchedPage {
  page: Page;
  consoleErrors: string[];
  /** Requests to anything but the allowed origins (the report must not fetch anything). */
  foreignRequests: string[];
}

/** A page that records console errors, page errors and requests outside `allowed` (which it fails). */
export async function watchedPage(browser: Browser, allowed: (url: string) => boolean): Promise<WatchedPage> {
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const url = r.url();
    if (allowed(url) || url.startsWith('data:')) void r.continue();
    else {
      foreignRequests.push(url);
      void r.abort();
    }
  });
  return { page, consoleErrors, foreignRequests };
}
