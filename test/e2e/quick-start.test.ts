import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startWranglerDev, type Server } from '../support/launcher';
import { freshClone, quickStartCommands, readReadme, type QuickStartCommand } from './readme-quick-start';

const run = promisify(execFile);
/** The port the README's commands name; the test's server listens on a free one instead. */
const README_PORT = '8787';

/** Opens a ws client, resolving once open; collects messages and the close frame. */
function openSocket(uri: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(uri, { headers });
  const messages: string[] = [];
  let waiter: (() => void) | null = null;
  ws.on('message', (data) => {
    messages.push(data.toString());
    waiter?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const nextMessage = (timeoutMs = 5000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), timeoutMs);
      const check = () => {
        if (messages.length > 0) {
          clearTimeout(timer);
          waiter = null;
          resolve(messages.shift()!);
        } else waiter = check;
      };
      check();
    });
  return { ws, opened, closed, nextMessage };
}

/** curl resolves *.localhost to loopback by itself. */
async function curl(args: string[]): Promise<{ status: number; body: any }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args], { timeout: 15_000 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) };
}

/** The line after the one that starts with `heading`, trimmed. */
function lineAfter(stdout: string, heading: string): string {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(heading));
  expect(at, `no line starting with "${heading}" in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  return lines[at + 1]!.trim();
}

describe('the README quick start, run as written against one `npm run dev`', () => {
  const commands: QuickStartCommand[] = quickStartCommands(readReadme());
  let clone: string;
  let dev: Server | undefined;
  let securityToken: string;

  /** Runs every command but `npm ci` (done) and `npm run dev` (running), in the clone, as a user types it; returns the last one's output. */
  async function runCommands(): Promise<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, MWS_URL: dev!.origin, NO_COLOR: '1' };
    delete env.ADMIN_TOKEN; // as in a fresh terminal: the quick start's .dev.vars must be enough
    let stdout = '';
    for (const { line } of commands.filter((c) => c.kind === 'run')) {
      const typed = line.replaceAll(`:${README_PORT}`, `:${dev!.port}`);
      try {
        ({ stdout } = await run('sh', ['-c', typed], { cwd: clone, env, timeout: 60_000 }));
      } catch (err) {
        const failed = err as { code: number; stdout: string; stderr: string };
        throw new Error(`\`${typed}\` exited with ${failed.code}:\n${failed.stdout}${failed.stderr}`);
      }
    }
    return stdout;
  }

  /** What `npm run quickstart` printed works as printed: the wscat uri connects, the curl push reaches it, the links answer. */
  async function followPrinted(stdout: string): Promise<string> {
    expect(stdout).not.toContain('undefined');
    const token = lineAfter(stdout, 'Security token');
    expect(token).toMatch(/^mws_[\w-]+$/);
    const uri = /^npx -y wscat -c '(ws:\/\/[^']+)'$/.exec(lineAfter(stdout, '1. Connect a client'))?.[1];
    expect(uri).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${dev!.port}/v1/gateways/demo/\\?token=`));
    // wscat itself would come from the registry (npx -y): the test connects with `ws`, the library wscat runs on.
    const client = openSocket(uri!);
    await client.opened;
    const push = lineAfter(stdout, '2. Push to every connected socket');
    const { stdout: answer } = await run('sh', ['-c', `${push} -sS`], { cwd: clone, timeout: 15_000 });
    expect(JSON.parse(answer)).toMatchObject({ data: 'Hello World!', sent: 1 });
    expect(await client.nextMessage()).toBe('Hello World!');
    client.ws.send('ping');
    expect(await client.nextMessage()).toBe('pong');
    client.ws.close(1000);
    expect((await client.closed).code).toBe(1000);

    const page = new URL(lineAfter(stdout, 'Or open a receiving page in a browser'));
    expect(existsSync(fileURLToPath(page))).toBe(true);
    expect(page.searchParams.get('uri')).toMatch(/^ws:\/\//);
    const consoleUrl = /^Live console \(paste the token\): (\S+)$/m.exec(stdout)?.[1];
    expect(consoleUrl).toBe(`${dev!.origin}/v1/gateways/demo/console/`);
    expect(await (await fetch(consoleUrl!)).text()).toContain('<title>MWS console</title>');
    return token;
  }

  beforeAll(async () => {
    expect(commands.map((c) => c.kind)).toContain('server');
    expect(commands.at(-1)!.kind).toBe('run');
    clone = freshClone();
    // The commands before `npm run dev` (writing .dev.vars) run first, as a user does; the server reads them.
    const server = commands.findIndex((c) => c.kind === 'server');
    for (const { line } of commands.slice(0, server).filter((c) => c.kind === 'run')) await run('sh', ['-c', line], { cwd: clone, timeout: 15_000 });
    dev = await startWranglerDev({ via: 'npm', cwd: clone, persistTo: join(clone, '.wrangler', 'state') });
  });

  afterAll(async () => {
    await dev?.stop();
    if (clone !== undefined) rmSync(clone, { recursive: true, force: true });
  });

  it('runs the commands of the README quick start, and what they print delivers a message', async () => {
    const stdout = await runCommands();
    expect(stdout).toContain(`Tenant "demo" created, with accessControl "none" on ${dev!.origin}.`);
    securityToken = await followPrinted(stdout);
  });

  it('runs them a second time against the same server, and they work again', async () => {
    const stdout = await runCommands();
    expect(stdout).toContain('Tenant "demo" exists: reusing it with a new security token');
    const token = await followPrinted(stdout);
    expect(token).not.toBe(securityToken);
    securityToken = token;
  });

  it('reaches the tenant on its subdomain: a uri from curl, ws with the Host header, a push with curl', async () => {
    const host = `demo.localhost:${dev!.port}`;
    const uriRes = await curl(['-H', `Authorization: Bearer ${securityToken}`, `http://${host}/v1/websocket_uri`]);
    expect(uriRes.status).toBe(200);
    expect(uriRes.body.uri).toMatch(new RegExp(`^ws://${host}/\\?token=`));
    // Node's resolver does not know *.localhost: connect to loopback and name the tenant in the Host header.
    const socket = openSocket(uriRes.body.uri.replace('demo.localhost', '127.0.0.1'), { host });
    await socket.opened;
    const pushed = await curl([
      '-X', 'POST', '-H', `Authorization: Bearer ${securityToken}`,
      '-d', '{"data": "Hello World!", "receivers": {"sockets": ["*"], "tags": null}}',
      `http://${host}/v1/messages`,
    ]);
    expect(pushed.status).toBe(201);
    expect(pushed.body.sent).toBe(1);
    expect(await socket.nextMessage()).toBe('Hello World!');
    socket.ws.close(1000);
    expect((await socket.closed).code).toBe(1000);
  });

  it('routes by tags through the gateway prefix with plain fetch and ws', async () => {
    const base = `${dev!.origin}/v1/gateways/demo`;
    const auth = { authorization: `Bearer ${securityToken}`, 'content-type': 'application/json' };
    const reserve = async (tags: string[]) => {
      const res = await fetch(`${base}/v1/sockets`, { method: 'POST', headers: auth, body: JSON.stringify({ tags }) });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; uri: string };
    };
    const red = openSocket((await reserve(['red'])).uri);
    const blue = openSocket((await reserve(['blue'])).uri);
    await Promise.all([red.opened, blue.opened]);
    const res = await fetch(`${base}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ data: 'reds only', receivers: { tags: ['red'] } }) });
    expect(((await res.json()) as { sent: number }).sent).toBe(1);
    expect(await red.nextMessage()).toBe('reds only');
    await expect(blue.nextMessage(500)).rejects.toThrow(/timed out/);
    const list = (await (await fetch(`${base}/v1/sockets`, { headers: auth })).json()) as { results: Array<{ tags: string[] }> };
    expect(list.results.map((s) => s.tags).sort()).toEqual([['blue'], ['red']]);
    red.ws.close();
    blue.ws.close();
  });

  it('answers the product document\'s invalid curl example with a 422, not a 500', async () => {
    const seedBody = '{"data": "Hello World!", \\\n        "receivers": {"sockets": ["*"], tags: null} \\\n        }';
    const res = await curl(['-X', 'POST', '-H', `Authorization: Bearer ${securityToken}`, '-d', seedBody, `http://demo.localhost:${dev!.port}/v1/messages`]);
    expect(res.status).toBe(422);
    expect(res.body.errors[0].reason).toBe('invalid_json');
  });
});
