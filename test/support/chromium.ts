import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Outside CI the browser suites skip when Chromium is absent; in CI its absence is a failure. */
export const chromiumAvailable = existsSync(CHROMIUM_PATH);
if (!chromiumAvailable) {
  const message = `Chromium not found at ${CHROMIUM_PATH}: install it with 'apt-get install -y chromium' to run the browser tests.`;
  if (process.env.CI) throw new Error(message);
  console.warn(`Skipping browser tests. ${message}`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
