import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Names Chromium goes by on PATH, in the order they are tried. */
const PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
/** Where Playwright's own Chromium builds keep the binary, old and new layouts. */
const PLAYWRIGHT_BINARIES = ['chrome-linux/chrome', 'chrome-linux64/chrome', 'chrome-linux-arm64/chrome'];

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A Chromium found, or why none was. */
export type ChromiumSearch = { path: string } | { missing: string };

/**
 * Finds Chromium the way a developer has one: $CHROMIUM_PATH (when set, it alone decides, so `CHROMIUM_PATH=none`
 * turns the browser tests off), then `chromium`, `chromium-browser`, `google-chrome`, `google-chrome-stable` on PATH,
 * then Playwright's cache ($PLAYWRIGHT_BROWSERS_PATH or ~/.cache/ms-playwright/chromium-<revision>/, newest first).
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumSearch {
  const chosen = env.CHROMIUM_PATH;
  if (chosen !== undefined) {
    return isExecutableFile(chosen) ? { path: chosen } : { missing: `CHROMIUM_PATH=${chosen} is not an executable file; set it to Chromium's path, or unset it to search PATH` };
  }
  for (const name of PATH_NAMES) {
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      if (dir !== '' && isExecutableFile(join(dir, name))) return { path: join(dir, name) };
    }
  }
  const cache = env.PLAYWRIGHT_BROWSERS_PATH ?? join(homedir(), '.cache', 'ms-playwright');
  const revisions = safeReaddir(cache)
    .filter((entry) => /^chromium-\d+$/.test(entry))
    .sort((a, b) => Number(b.slice('chromium-'.length)) - Number(a.slice('chromium-'.length)));
  for (const revision of revisions) {
    for (const binary of PLAYWRIGHT_BINARIES) {
      if (isExecutableFile(join(cache, revision, binary))) return { path: join(cache, revision, binary) };
    }
  }
  return { missing: "no Chromium found; install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH" };
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Chromium at `executablePath`, headless, with a fresh profile that is deleted on close. */
export async function launchChromium(executablePath: string): Promise<Chromium> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'mws-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ARGS,
    timeout: 60_000,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
