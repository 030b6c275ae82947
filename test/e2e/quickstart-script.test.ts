import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROOT, startServe, type Server as MwsServer } from '../support/launcher';

const run = promisify(execFile);
const ADMIN_TOKEN = 'e2e-admin-token';
const SCRIPT = path.join(ROOT, 'scripts', 'quickstart.mjs');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the quick start; `cwd` is where it looks for .dev.vars; ADMIN_TOKEN only when given. */
async function quickstart(args: string[], options: { adminToken?: string; cwd?: string; viaNpm?: boolean } = {}): Promise<Outcome> {
  const env = { ...process.env };
  delete env.ADMIN_TOKEN;
  delete env.MWS_URL;
  if (options.adminToken !== undefined) env.ADMIN_TOKEN = options.adminToken;
  const [bin, argv] = options.viaNpm ? ['npm', ['run', '--silent', 'quickstart', '--', ...args]] : [process.execPath, [SCRIPT, ...args]];
  try {
    const { stdout, stderr } = await run(bin as string, argv as string[], { cwd: options.cwd ?? ROOT, env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The line after the one that starts with `heading`, trimmed. */
function lineAfter(stdout: string, heading: string): string {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(heading));
  expect(at, `no line starting with "${heading}" in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  return lines[at + 1]!.trim();
}

/** A failure is one line on stderr, nothing on stdout, exit code 1. */
function expectOneLineFailure(outcome: Outcome, message: RegExp): void {
  expect(outcome.code).toBe(1);
  expect(outcome.stdout).toBe('');
  expect(outcome.stderr).toMatch(/^quickstart: [^\n]+\n$/);
  expect(outcome.stderr).toMatch(message);
  expect(outcome.stderr).not.toContain('undefined');
}

function receiveOne(uri: string): Promise<{ ws: WebSocket; message: Promise<string> }> {
  const ws = new WebSocket(uri);
  const message = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, message }));
    ws.once('error', reject);
  });
}

describe('npm run quickstart against a real npm start', () => {
  let server: MwsServer;
  let scratch: string;

  beforeAll(async () => {
    server = await startServe({ adminToken: ADMIN_TOKEN, via: 'npm' });
    scratch = mkdtempSync(path.join(tmpdir(), 'mws-quickstart-'));
  });

  afterAll(async () => {
    await server?.stop();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it('creates tenant demo in none mode and prints a token, a connect URI and commands that work as printed', async () => {
    const first = await quickstart(['--url', server.origin], { adminToken: ADMIN_TOKEN, viaNpm: true });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Tenant "demo" created, with accessControl "none" on ${server.origin}.`);
    expect(first.stdout).not.toContain('undefined');
    const token = lineAfter(first.stdout, 'Security token');
    expect(token).toMatch(/^mws_[\w-]+$/);
    expect(lineAfter(first.stdout, 'For the SDK')).toBe(`export MWS_BASE_URL=${server.origin}/v1/gateways/demo MWS_SECURITY_TOKEN=${token}`);
    // The console link is printed only when the server serves it (`npm start` has no static assets; `npm run dev` has).
    const consoleUrl = `${server.origin}/v1/gateways/demo/console/`;
    const consoleStatus = (await fetch(consoleUrl)).status;
    expect(first.stdout).toContain(
      consoleStatus === 200 ? `Live console (paste the token): ${consoleUrl}` : `Live console: not served by this server (GET ${consoleUrl} answered ${consoleStatus});`,
    );

    const wscat = lineAfter(first.stdout, '1. Connect a client');
    const uri = /^npx -y wscat -c '(ws:\/\/[^']+)'$/.exec(wscat)?.[1];
    expect(uri).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/v1/gateways/demo/\\?token=`));
    const client = await receiveOne(uri!);
    try {
      const curl = lineAfter(first.stdout, '2. Push to every connected socket');
      expect(curl).toMatch(/^curl -X POST /);
      const { stdout } = await run('sh', ['-c', `${curl} -sS`], { timeout: 15_000 });
      expect(JSON.parse(stdout)).toMatchObject({ data: 'Hello World!', sent: 1 });
      expect(await client.message).toBe('Hello World!');
    } finally {
      client.ws.close();
    }

  });

  it('succeeds again on the same server: reuses demo with a fresh token, and the one before keeps working', async () => {
    const before = JSON.parse((await quickstart(['--url', server.origin, '--json'], { adminToken: ADMIN_TOKEN })).stdout);
    const again = await quickstart(['--url', server.origin], { adminToken: ADMIN_TOKEN, viaNpm: true });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Tenant "demo" exists: reusing it with a new security token');
    const token = lineAfter(again.stdout, 'Security token');
    expect(token).not.toBe(before.securityToken);
    for (const bearer of [token, before.securityToken]) {
      const res = await fetch(`${server.origin}/v1/gateways/demo/v1/sockets`, { headers: { authorization: `Bearer ${bearer}` } });
      expect(res.status).toBe(200);
    }
    expect(before).toMatchObject({ tenant: 'demo', reused: true, baseUrl: `${server.origin}/v1/gateways/demo` });
    expect(before.browserUrl).toBe(`${pathToFileURL(path.join(ROOT, 'examples', 'browser.html')).href}?uri=${encodeURIComponent(new URL(before.browserUrl).searchParams.get('uri')!)}`);
    expect(new URL(before.browserUrl).searchParams.get('uri')).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/gateways\/demo\/\?token=/);
  });

  it('names another tenant when given one, and reads ADMIN_TOKEN from .dev.vars', async () => {
    writeFileSync(path.join(scratch, '.dev.vars'), `# local secrets\nADMIN_TOKEN="${ADMIN_TOKEN}"\n`);
    const outcome = await quickstart(['chat', '--url', server.origin], { cwd: scratch });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('Tenant "chat" created');
    rmSync(path.join(scratch, '.dev.vars'));
  });

  it('fails in one line when ADMIN_TOKEN is wrong', async () => {
    expectOneLineFailure(await quickstart(['--url', server.origin], { adminToken: 'not-the-token' }), /answered 401 unauthorized: .*ADMIN_TOKEN is not the token this server was started with/);
  });

  it('fails in one line when ADMIN_TOKEN is missing from the environment and .dev.vars', async () => {
    expectOneLineFailure(await quickstart(['--url', server.origin], { cwd: scratch }), /ADMIN_TOKEN is not set/);
  });

  it('fails in one line when no server is running', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expectOneLineFailure(await quickstart(['--url', `http://127.0.0.1:${port}`], { adminToken: ADMIN_TOKEN }), /no server is listening at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
  });

  it('fails in one line on a non-2xx answer, and on a server that is not MWS', async () => {
    let fake: Server | undefined;
    try {
      let isMws = true;
      fake = createServer((req, res) => {
        if (!isMws) return void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
        res.writeHead(req.url === '/' ? 200 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(req.url === '/' ? { name: 'MWS', version: '1.0.0', tenant: null } : { error: { reason: 'internal_error', message: 'Internal server error.' } }));
      });
      await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      expectOneLineFailure(await quickstart(['--url', url], { adminToken: ADMIN_TOKEN }), /^quickstart: POST \/admin\/tenants answered 500 internal_error: Internal server error\.\n$/);
      isMws = false;
      expectOneLineFailure(await quickstart(['--url', url], { adminToken: ADMIN_TOKEN }), /GET \/ answered 404 with a body that is not JSON: is http:\/\/127\.0\.0\.1:\d+ an MWS server\?/);
    } finally {
      await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
    }
  });

  it('refuses a name that cannot be a tenant before calling the server', async () => {
    expectOneLineFailure(await quickstart(['Not_A_Label', '--url', server.origin], { adminToken: ADMIN_TOKEN }), /"Not_A_Label" cannot be a tenant name/);
  });
});
