import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startWranglerDev, type Server } from '../support/launcher';
import { launchChromium, type Chromium } from './support/chromium';
import { startStaticServer, type StaticServer } from './support/static-server';

// One wrangler dev, one static origin and one Chromium for the whole file: the machine may have few cores.
const ADMIN_TOKEN = 'browser-test-admin-token';
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
    const res = await fetch(`${wrangler!.origin}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: TENANT }),
    });
    expect(res.status).toBe(201);
    securityToken = ((await res.json()) as { securityToken: string }).securityToken;
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

  it('lets a user paste a token in the console, create and connect a socket, push to its tag and see the message arrive', async () => {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${tenantHost()}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/');
    await expect(page.title()).resolves.toBe('MWS console');

    await page.fill('#token', securityToken);
    await page.fill('#tags', 'console-demo, news');
    await page.click('#create-socket');
    await page.locator('#uri', { hasText: 'ws://' }).waitFor();
    const socketId = (await page.textContent('#created-id')) ?? '';
    expect(socketId).not.toBe('');

    await page.click('#connect');
    await page.locator('#status', { hasText: /^connected$/ }).waitFor();

    await page.fill('#push-data', 'hello from the console');
    await page.fill('#push-tags', 'console-demo');
    await page.click('#push');
    await page.locator('#push-result', { hasText: 'sent to 1 socket(s)' }).waitFor();
    await page.locator('#messages li', { hasText: 'hello from the console' }).waitFor();

    await page.click('#list');
    await page.locator('#sockets tr', { hasText: socketId }).waitFor();
    await expect(page.locator('#sockets tr', { hasText: socketId }).textContent()).resolves.toContain('console-demo, news');

    await mkdir(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/console.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('keeps an SDK client receiving after the wrangler dev server restarts, by reconnecting with a fresh uri from getUri', async () => {
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

    // The tenant (and its security token) survived the restart in --persist-to; the client reconnects on its own.
    await page.waitForFunction(() => (window as any).mws.opens === 2, undefined, { timeout: 30_000 });
    const sent = await tenantApi('POST', '/v1/messages', { data: 'after restart', receivers: { sockets: ['*'], tags: null } });
    expect(sent.sent).toBeGreaterThanOrEqual(1);
    await page.waitForFunction(() => (window as any).mws.received.includes('after restart'));

    const state = await page.evaluate(() => (window as any).mws);
    expect(state.received).toEqual(['before restart', 'after restart']);
    expect(state.closes[0]).toMatchObject({ willReconnect: true });
    expect(state.reconnecting.length).toBeGreaterThanOrEqual(1);
    expect(state.uriCalls).toBeGreaterThanOrEqual(2);
    await page.evaluate(() => (window as any).mwsClient.close());
    await page.close();
  });
});
