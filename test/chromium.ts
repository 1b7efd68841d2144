/**
 * Headless Chromium for the browser tests: Debian's chromium package (scripts/setup.sh installs it; `CHROMIUM`
 * overrides the path), driven by playwright-core, which downloads no browser of its own.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launch flags for a machine without outside network: without the background-networking ones Chromium keeps
 * trying (and failing) to reach its update and sync hosts. `--no-sandbox` because CI runs as root.
 */
export const CHROMIUM_ARGS: string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Throws (the test fails, it is not skipped) when the browser is not installed. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium (or set CHROMIUM)`);
  }
}
