import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A free TCP port on 127.0.0.1 (asked from the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WranglerDev {
  /** e.g. http://127.0.0.1:8787 */
  origin: string;
  port: number;
  stop(): Promise<void>;
  output(): string;
}

/**
 * Starts `wrangler dev` on 127.0.0.1:port in its own process group and resolves once GET / answers.
 * `persistTo` keeps Durable Object state across restarts.
 */
export async function startWranglerDev(options: { port: number; persistTo: string; adminToken: string; timeoutMs?: number }): Promise<WranglerDev> {
  const inspectorPort = await freePort();
  const args = [
    'wrangler', 'dev',
    '--port', String(options.port),
    '--ip', '127.0.0.1',
    '--inspector-port', String(inspectorPort),
    '--var', `ADMIN_TOKEN:${options.adminToken}`,
    '--persist-to', options.persistTo,
    '--show-interactive-dev-session=false',
    '--log-level', 'warn',
  ];
  const child = spawn('npx', args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
  });
  let log = '';
  child.stdout?.on('data', (chunk) => (log += chunk));
  child.stderr?.on('data', (chunk) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let ready = false;
  while (!ready) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
    if (Date.now() > deadline) {
      await killGroup(child, exited);
      throw new Error(`wrangler dev did not answer on ${origin} in time:\n${log}`);
    }
    ready = await answers(origin);
    if (!ready) await sleep(250);
  }
  return { origin, port: options.port, output: () => log, stop: () => killGroup(child, exited).then(() => waitPortClosed(options.port)) };
}

async function answers(origin: string): Promise<boolean> {
  try {
    const res = await fetch(`${origin}/`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { name?: string };
    return res.ok && body.name === 'MWS';
  } catch {
    return false;
  }
}

/** SIGTERM to the whole process group (npx, wrangler, workerd), SIGKILL if it lingers. */
async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!stopped) signal('SIGKILL');
  await Promise.race([exited, sleep(5000)]);
  signal('SIGKILL'); // any straggler in the group (workerd)
}

async function waitPortClosed(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (!open) return;
    await sleep(100);
  }
  throw new Error(`port ${port} still accepts connections after stopping wrangler`);
}
