import { spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** `npm start` (scripts/serve.mjs) on a free loopback port with memory-only storage. */
export interface NpmStart {
  origin: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `npm start -- --port 0 --ephemeral` in its own process group, resolves once it prints
 * `MWS listening on <url>`, and stops the whole group (npm, node, workerd) on `stop()`.
 * Minimal on purpose: the shared launcher (test/support/launcher.ts) replaces it.
 */
export function startNpmStart(env: Record<string, string>, timeoutMs = 120_000): Promise<NpmStart> {
  const child = spawn('npm', ['start', '--', '--port', '0', '--ephemeral'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, WRANGLER_SEND_METRICS: 'false' },
  });
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, name);
      } catch {
        // The group is gone already.
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`npm start did not listen within ${timeoutMs} ms:\n${log}`))), timeoutMs);
    child.stdout.on('data', (chunk) => {
      log += chunk;
      const match = /MWS listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve({ origin: match[1]!, output: () => log, stop });
      }
    });
    child.stderr.on('data', (chunk) => (log += chunk));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`npm start exited before listening:\n${log}`));
    });
  });
}
