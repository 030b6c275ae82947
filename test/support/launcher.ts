import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A process started in its own process group, with everything it printed. */
export interface Group {
  child: ChildProcess;
  /** The process group id (the child's pid). */
  pgid: number;
  output(): string;
  /** Resolves once the group's leader has exited. */
  exited: Promise<void>;
  /** SIGTERM to the whole group, SIGKILL to whatever is left after a few seconds. Safe to call any number of times. */
  stop(): Promise<void>;
}

/** A server that answers on loopback. */
export interface Server extends Group {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  port: number;
}

const TERM_GRACE_MS = 3000;
const OUTPUT_LIMIT = 256 * 1024;
const live = new Set<number>();

/** Starts `command` in a process group of its own, so that stop() reaches every process under it (npx, wrangler, workerd). */
export function spawnGroup(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Group {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // WRANGLER_LOG: vitest.config.ts quiets wrangler in the test process; a launched wrangler must print "Ready on".
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG: 'log', NO_COLOR: '1', ...options.env },
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pgid = child.pid;
  live.add(pgid);
  let log = '';
  const append = (chunk: Buffer): void => {
    log += chunk.toString();
    if (log.length > OUTPUT_LIMIT) log = log.slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= stopGroup(pgid));
  return { child, pgid, output: () => log, exited, stop };
}

async function stopGroup(pgid: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + TERM_GRACE_MS;
  while (groupMembers(pgid).length > 0 && Date.now() < deadline) await sleep(100);
  signalGroup(pgid, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (groupMembers(pgid).length > 0 && Date.now() < killDeadline) await sleep(50);
  live.delete(pgid);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is gone.
  }
}

/** Live (not zombie) processes in process group `pgid`, from /proc. */
export function groupMembers(pgid: number): Array<{ pid: number; command: string }> {
  const members: Array<{ pid: number; command: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(group) !== pgid || state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      members.push({ pid: Number(entry), command });
    } catch {
      // Exited while we looked.
    }
  }
  return members;
}

// Whatever happens to this test process (a failed hook, an uncaught error, a signal), its servers go with it.
process.on('exit', () => {
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = (): void => {
    for (const pgid of live) signalGroup(pgid, 'SIGKILL');
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  process.on(signal, onSignal);
}

/** Waits until `pattern` appears in the group's output; fails (after stopping the group) if it exits or time runs out. */
async function waitForOutput(group: Group, pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let leaderGone = false;
  void group.exited.then(() => (leaderGone = true));
  for (;;) {
    const match = pattern.exec(group.output());
    if (match) return match;
    if (leaderGone || Date.now() > deadline) {
      await group.stop();
      throw new Error(`${what} ${leaderGone ? 'exited' : `did not start within ${timeoutMs} ms`}:\n${group.output()}`);
    }
    await sleep(100);
  }
}

export interface WranglerDevOptions {
  vars?: Record<string, string>;
  /** Durable Object storage; a fresh temporary directory (deleted on stop) when omitted. */
  persistTo?: string;
  /** A fixed port (e.g. to restart on the same one); otherwise wrangler picks a free one. */
  port?: number;
  timeoutMs?: number;
  /** `npm` runs `npm run dev --`, as the README's quick start does; `npx` (the default) runs `npx wrangler dev`. */
  via?: 'npx' | 'npm';
  /** The project directory it runs in (its wrangler.toml and .dev.vars); the repository by default. */
  cwd?: string;
}

/**
 * `wrangler dev` on 127.0.0.1, as a developer runs it. Without `port` it listens on port 0 and the port is read from
 * its "Ready on" line; with a fixed port that is still taken (a server just stopped), it retries until the deadline.
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<Server> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  const ownDir = options.persistTo === undefined ? mkdtempSync(join(tmpdir(), 'mws-wrangler-')) : null;
  const args = [
    ...(options.via === 'npm' ? ['run', 'dev', '--'] : ['wrangler', 'dev']),
    '--ip', '127.0.0.1',
    '--port', String(options.port ?? 0),
    '--inspector-port', '0',
    '--persist-to', options.persistTo ?? ownDir!,
    '--show-interactive-dev-session=false',
  ];
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push('--var', `${name}:${value}`);
  for (;;) {
    const group = spawnGroup(options.via === 'npm' ? 'npm' : 'npx', args, { env: { CI: 'true' }, cwd: options.cwd });
    try {
      const match = await waitForOutput(group, /Ready on (http:\/\/127\.0\.0\.1:(\d+))/, 'wrangler dev', Math.max(deadline - Date.now(), 1000));
      const server = withCleanup({ ...group, origin: match[1]!, port: Number(match[2]) }, ownDir);
      await waitUntilAnswering(server, deadline);
      return server;
    } catch (err) {
      await group.stop();
      const clash = /address already in use|EADDRINUSE/i.test(group.output());
      if (!clash || options.port === undefined || Date.now() > deadline) {
        if (ownDir !== null) rmSync(ownDir, { recursive: true, force: true });
        throw err;
      }
      await sleep(500);
    }
  }
}

export interface ServeOptions {
  adminToken: string;
  /** `npm` runs `npm start --`, as a user does; `node` runs scripts/serve.mjs directly. */
  via?: 'npm' | 'node';
  /** More arguments for serve.mjs; `--port 0 --ephemeral` unless `args` names a port or storage. */
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The self-hosting server (`npm start`, scripts/serve.mjs) on a port it picks, read from its `MWS listening on` line. */
export async function startServe(options: ServeOptions): Promise<Server> {
  const group = spawnServe(options);
  const match = await waitForOutput(group, /MWS listening on (http:\/\/127\.0\.0\.1:(\d+))/, 'npm start', options.timeoutMs ?? 90_000);
  return { ...group, origin: match[1]!, port: Number(match[2]) };
}

/** Starts the self-hosting server without waiting for it, for tests of how it starts, fails and stops. */
export function spawnServe(options: ServeOptions): Group {
  const args = options.args ?? [];
  const defaults = [
    ...(args.includes('--port') ? [] : ['--port', '0']),
    ...(args.includes('--persist-to') || args.includes('--ephemeral') ? [] : ['--ephemeral']),
  ];
  const serveArgs = [...defaults, ...args];
  const [command, commandArgs] = options.via === 'npm' ? ['npm', ['start', '--', ...serveArgs]] : [process.execPath, [join(ROOT, 'scripts/serve.mjs'), ...serveArgs]];
  return spawnGroup(command as string, commandArgs as string[], { env: { ADMIN_TOKEN: options.adminToken, ...options.env } });
}

function withCleanup(server: Server, ownDir: string | null): Server {
  if (ownDir === null) return server;
  const stop = server.stop;
  return { ...server, stop: () => stop().then(() => rmSync(ownDir, { recursive: true, force: true })) };
}

/** wrangler prints "Ready" as its proxy starts; wait until the Worker itself answers GET /. */
async function waitUntilAnswering(server: Server, deadline: number): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(`${server.origin}/`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && ((await res.json()) as { name?: string }).name === 'MWS') return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not answer on ${server.origin} in time:\n${server.output()}`);
    await sleep(200);
  }
}
