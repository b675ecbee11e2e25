import { existsSync, mkdirSync } from 'node:fs';
import type { Context } from 'mocha';
import { chromium, type Browser } from 'playwright-core';

// Debian's Chromium (`npx playwright install` cannot download here), driven by playwright-core.
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** Where the browser tests save their screenshots (not committed). */
export const ARTIFACTS = 'test-artifacts';

/**
 * Debian's Chromium, headless, for a suite's before hook. Without it the suite fails under CI
 * (.ci/run installs it) and is skipped, with a notice, elsewhere.
 */
export async function launchChromium(suite: Context, what: string): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must run the browser test (.ci/run installs it)`);
    console.log(`\n  SKIPPED: ${what} needs ${CHROMIUM} (apt-get install chromium)\n`);
    suite.skip();
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
