import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../../support/launcher';
import { findChromium } from './chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium the browser tests drive; null skips them. */
    chromiumPath: string | null;
  }
}

/**
 * Vitest globalSetup of the browser project: finds Chromium and, when there is one, builds sdk/dist (the pages load
 * the SDK from it). Without a browser the project is skipped with one line, except under CI, where that is an error.
 */
export default function setup(project: TestProject): void {
  const search = findChromium();
  if ('missing' in search) {
    if (['true', '1'].includes(process.env.CI ?? '')) throw new Error(`browser tests cannot run under CI: ${search.missing}`);
    console.warn(`browser tests skipped: ${search.missing}`);
    project.provide('chromiumPath', null);
    return;
  }
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'sdk/tsconfig.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  project.provide('chromiumPath', search.path);
}
