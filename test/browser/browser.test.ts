import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startWranglerDev, type Server } from '../support/launcher';
import { runConsoleFirstTimeFlow } from './console-flow';
import { launchChromium, type Chromium } from './support/chromium';
import { startStaticServer, type StaticServer } from './support/static-server';

// One wrangler dev, one static origin and one Chromium for the whole file: the machine may have few cores.
const ADMIN_TOKEN = 'browser-test-admin-token';
const run = promisify(execFile);
const TENANT = 'acme';
/** Found by support/setup.ts; null when this machine has no Chromium (the tests are then skipped). */
const chromiumPath = inject('chromiumPath');

let port: number;
let persistTo: string;
let wrangler: Server | undefined;
let pages: StaticServer | undefined;
let browser: Chromium | undefined;
let securityToken: string;

/** The tenant API as seen from Node (Node cannot resolve *.localhost, so it uses the gateway prefix). */
const gateway = (): string => `http://127.0.0.1:${port}/v1/gateways/${TENANT}`;
/** The tenant host as Chromium sees it. */
const tenantHost = (): string => `http://${TENANT}.localhost:${port}`;

async function tenantApi(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${gateway()}${path}`, {
    method,
    headers: { authorization: `Bearer ${securityToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function createTenant(name: string): Promise<{ securityToken: string }> {
  const res = await fetch(`${wrangler!.origin}/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { securityToken: string };
}

describe.skipIf(chromiumPath === null)('in a real Chromium', () => {
  beforeAll(async () => {
    persistTo = await mkdtemp(join(tmpdir(), 'mws-browser-state-'));
    // Each is recorded as soon as it is up, so that afterAll stops it even when another one failed to start.
    const started = await Promise.allSettled([
      startWranglerDev({ persistTo, vars: { ADMIN_TOKEN } }).then((server) => (wrangler = server)),
      startStaticServer({
        '/jquery.js': join(ROOT, 'node_modules/jquery/dist/jquery.min.js'),
        '/jquery-push.html': join(ROOT, 'test/browser/pages/jquery-push.html'),
        '/receiver.html': join(ROOT, 'test/browser/pages/receiver.html'),
        '/sdk-client.html': join(ROOT, 'test/browser/pages/sdk-client.html'),
        '/sdk/': join(ROOT, 'sdk/dist'),
      }).then((server) => (pages = server)),
      launchChromium(chromiumPath!).then((launched) => (browser = launched)),
    ]);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    port = wrangler!.port;
    securityToken = (await createTenant(TENANT)).securityToken;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([browser?.close(), pages?.close(), wrangler?.stop()]);
    if (persistTo) await rm(persistTo, { recursive: true, force: true });
  }, 60_000);

  it('delivers a message pushed cross-origin with the documented jQuery snippet to a socket open in another page', async () => {
    const socket = await tenantApi('POST', '/v1/sockets', { tags: ['jquery'] });
    const receiver = await browser!.context.newPage();
    await receiver.goto(`${pages!.origin}/receiver.html?uri=${encodeURIComponent(socket.uri)}`);
    await receiver.locator('#state', { hasText: 'open' }).waitFor();

    const sender = await browser!.context.newPage();
    await sender.goto(`${pages!.origin}/jquery-push.html?endpoint=${encodeURIComponent(tenantHost())}&token=${encodeURIComponent(securityToken)}`);
    // The page's origin (127.0.0.1:other port) differs from the API's: Chromium preflights the JSON POST with
    // Authorization, and only lets jQuery read the 201 answer if CORS allowed it.
    const answer = await sender.evaluate(
      () =>
        new Promise((resolve, reject) => {
          (window as any)
            .pushToEverySocket('hello from jQuery')
            .done((body: unknown, _status: string, xhr: { status: number }) => resolve({ status: xhr.status, body }))
            .fail((xhr: { status: number; responseText: string }) => reject(new Error(`ajax failed: ${xhr.status} ${xhr.responseText}`)));
        }),
    );
    expect(answer).toMatchObject({ status: 201, body: { data: 'hello from jQuery', receivers: { sockets: ['*'], tags: null } } });
    expect((answer as { body: { sent: number } }).body.sent).toBeGreaterThanOrEqual(1);

    await receiver.locator('#messages li', { hasText: 'hello from jQuery' }).waitFor();
    expect(await receiver.evaluate(() => (window as any).received)).toEqual(['hello from jQuery']);
    await Promise.all([sender.close(), receiver.close()]);
  });

  it('guides a first-time user through the console: errors next to the action, defaults that deliver, a live list and timed messages', async () => {
    const tenant = 'first-hour';
    const { securityToken: token } = await createTenant(tenant);
    const seen = await runConsoleFirstTimeFlow({ context: browser!.context, consoleUrl: `http://${tenant}.localhost:${port}/console`, tenant, securityToken: token });
    expect(seen).toEqual({ pageErrors: [], notFound: [] });
  });

  it("drops the console's connection for 10 s, then shows what was pushed meanwhile, once each, with seq and id", async () => {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${tenantHost()}/console/`);
    await page.fill('#token', securityToken);
    await page.fill('#tags', 'drop-demo');
    await page.locator('#create-socket:not([disabled])').waitFor();
    await page.click('#create-socket');
    await page.click('#connect');
    await page.locator('#status', { hasText: /^connected$/ }).waitFor();
    await tenantApi('POST', '/v1/messages', { data: 'before the drop', receivers: { sockets: null, tags: ['drop-demo'] } });
    await page.locator('#messages li', { hasText: 'before the drop' }).waitFor();

    await page.click('#drop');
    await page.locator('#status', { hasText: /^dropped/ }).waitFor();
    for (const data of ['during the drop 1', 'during the drop 2']) await tenantApi('POST', '/v1/messages', { data, receivers: { sockets: null, tags: ['drop-demo'] } });
    await page.locator('#messages li', { hasText: 'during the drop 2' }).waitFor({ timeout: 30_000 });
    await tenantApi('POST', '/v1/messages', { data: 'live again', receivers: { sockets: null, tags: ['drop-demo'] } });
    await page.locator('#messages li', { hasText: 'live again' }).waitFor();
    const shown = await page.locator('#messages li').allTextContents();
    expect(shown.map((text) => text.replace(/^\d\d:\d\d:\d\d /, '').replace(/ · [0-9a-f-]{36} · /, ' · <id> · '))).toEqual([
      '#4 · <id> · live again',
      '#3 · <id> · during the drop 2',
      '#2 · <id> · during the drop 1',
      '#1 · <id> · before the drop',
    ]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows a message in examples/browser.html, opened from the link npm run quickstart prints and pushed with its curl command', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/quickstart.mjs'), '--url', wrangler!.origin], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_TOKEN },
      timeout: 30_000,
    });
    const lines = stdout.split('\n');
    const after = (heading: string): string => lines[lines.findIndex((line) => line.startsWith(heading)) + 1]!.trim();
    const link = after('Or open a receiving page in a browser');
    expect(link).toMatch(/^file:\/\/.*\/examples\/browser\.html\?uri=ws/);
    const page = await browser!.context.newPage();
    await page.goto(link);
    await page.locator('#state', { hasText: 'open' }).waitFor();
    const curl = after('2. Push to every connected socket');
    const { stdout: answer } = await run('sh', ['-c', `${curl} -sS`], { timeout: 15_000 });
    expect(JSON.parse(answer)).toMatchObject({ data: 'Hello World!', sent: 1 });
    await page.locator('#messages li', { hasText: 'Hello World!' }).waitFor();
    await page.close();
  });

  it('keeps an SDK client receiving after the wrangler dev server restarts, resuming with no message lost or doubled', async () => {
    const page = await browser!.context.newPage();
    await page.goto(`${pages!.origin}/sdk-client.html`);
    await page.waitForFunction(() => (window as any).sdkLoaded === true);
    await page.evaluate(([base, token]) => (window as any).startClient(base, token), [gateway(), securityToken] as const);
    await page.waitForFunction(() => (window as any).mws.opens === 1);

    await tenantApi('POST', '/v1/messages', { data: 'before restart', receivers: { sockets: ['*'], tags: null } });
    await page.waitForFunction(() => (window as any).mws.received.includes('before restart'));

    await wrangler!.stop();
    await page.waitForFunction(() => (window as any).mws.closes.length >= 1, undefined, { timeout: 15_000 });
    wrangler = await startWranglerDev({ port, persistTo, vars: { ADMIN_TOKEN } });

    // The tenant, its token and the socket's history survived the restart in --persist-to. Pushed before the client is
    // back, these wait in history; it reconnects on its own and resumes.
    for (const data of ['while away 1', 'while away 2']) await tenantApi('POST', '/v1/messages', { data, receivers: { sockets: ['*'], tags: null } });
    await page.waitForFunction(() => (window as any).mws.opens === 2, undefined, { timeout: 30_000 });
    const sent = await tenantApi('POST', '/v1/messages', { data: 'after restart', receivers: { sockets: ['*'], tags: null } });
    expect(sent.sent).toBeGreaterThanOrEqual(1);
    await page.waitForFunction(() => (window as any).mws.received.includes('after restart'));

    const state = await page.evaluate(() => (window as any).mws);
    expect(state.received).toEqual(['before restart', 'while away 1', 'while away 2', 'after restart']);
    expect(state.resumed).toEqual([null, true]);
    expect(state.recoveryFailed).toEqual([]);
    expect(state.closes[0]).toMatchObject({ willReconnect: true });
    expect(state.reconnecting.length).toBeGreaterThanOrEqual(1);
    expect(state.uriCalls).toBeGreaterThanOrEqual(2);
    await page.evaluate(() => (window as any).mwsClient.close());
    await page.close();
  });
});
