import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './wrangler';

/** Vitest globalSetup: the browser tests load the SDK from sdk/dist, so build it first. */
export default function buildSdk(): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'sdk/tsconfig.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
