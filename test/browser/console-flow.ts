import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { ROOT } from '../support/launcher';

/** Where the console flow runs: a tenant that was just created, with nothing connected. */
export interface ConsoleFlowSetup {
  context: BrowserContext;
  /** The tenant's console address as a person types it, e.g. http://first.localhost:8787/console */
  consoleUrl: string;
  tenant: string;
  securityToken: string;
}

/** A `ws` client (what wscat runs on) that keeps what it receives. */
async function openTerminalClient(uri: string): Promise<{ ws: WebSocket; received: string[] }> {
  const ws = new WebSocket(uri);
  const received: string[] = [];
  ws.on('message', (data) => received.push(data.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    setTimeout(() => reject(new Error(`no connection to ${uri} within 10 s`)), 10_000);
  });
  return { ws, received };
}

const isDisabled = (page: Page, selector: string): Promise<boolean> => page.locator(selector).isDisabled();

/**
 * A first-time user in the console: the actions wait for a token, a wrong token is refused next to its field, a push
 * with the defaults before anyone listens warns, the terminal command connects, the list follows on its own, a used
 * uri is explained next to Connect, the defaults then deliver to both sockets, and messages arrive newest first with
 * their time, seq and message id. Returns what the page logged as errors and which of its requests answered 404.
 */
export async function runConsoleFirstTimeFlow({ context, consoleUrl, tenant, securityToken }: ConsoleFlowSetup): Promise<{ pageErrors: string[]; notFound: string[] }> {
  const page = await context.newPage();
  const pageErrors: string[] = [];
  const notFound: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('response', (res) => void (res.status() === 404 && notFound.push(res.url())));
  await page.goto(consoleUrl);
  expect(new URL(page.url()).pathname).toBe('/console/');
  await expect(page.title()).resolves.toBe('MWS console');
  await expect(page.textContent('#tenant-name')).resolves.toBe(tenant);

  // Nothing can work before a token: the buttons say so.
  expect(await isDisabled(page, '#create-socket')).toBe(true);
  expect(await isDisabled(page, '#push')).toBe(true);
  expect(await page.locator('#push-section .needs-token').isVisible()).toBe(true);

  // A wrong token is refused next to the token field, and the actions stay disabled.
  await page.fill('#token', 'mws_not-the-token');
  const tokenProblem = page.locator('#token-section .problem');
  await tokenProblem.waitFor();
  await expect(tokenProblem.textContent()).resolves.toMatch(/401 unauthorized: .*Check the security token in step 1\./);
  expect(await isDisabled(page, '#create-socket')).toBe(true);

  await page.fill('#token', securityToken);
  await page.locator('#token-status', { hasText: `Accepted: this is the security token of tenant "${tenant}".` }).waitFor();
  expect(await tokenProblem.isVisible()).toBe(false);
  expect(await isDisabled(page, '#create-socket')).toBe(false);
  await page.locator('#sockets', { hasText: 'No socket is connected' }).waitFor();

  // The receivers default to every socket; with nobody connected, the result is a visible warning.
  await expect(page.inputValue('#push-sockets')).resolves.toBe('*');
  await page.click('#push');
  const result = page.locator('#push-result');
  await page.locator('#push-result.warning').waitFor();
  await expect(result.textContent()).resolves.toMatch(/sent to 0 socket\(s\).*Nobody received it/);

  // The terminal command's uri connects from Node, and the live list shows that socket without a click.
  await page.click('#create-socket');
  await page.locator('#created').waitFor();
  const terminalId = (await page.locator('#created-id').textContent())!;
  const command = await page.inputValue('#connect-command');
  const uri = /^npx -y wscat -c '(ws:\/\/localhost:\d+\/v1\/gateways\/[a-z0-9-]+\/\?token=[^']+)'$/.exec(command)?.[1];
  expect(uri, command).toBeDefined();
  const terminal = await openTerminalClient(uri!);
  await page.locator('#sockets tr', { hasText: terminalId }).waitFor({ timeout: 10_000 });

  // Its uri is used now: connecting the page with it is explained next to the button.
  await page.click('#connect');
  const socketProblem = page.locator('#socket-section .problem');
  await socketProblem.waitFor();
  await expect(socketProblem.textContent()).resolves.toContain('closed with 4401: the connect uri was already used');
  expect(await isDisabled(page, '#connect')).toBe(true);

  await page.click('#create-socket');
  await page.waitForFunction((before) => document.getElementById('created-id')!.textContent !== before, terminalId);
  await page.click('#connect');
  await page.locator('#status', { hasText: /^connected$/ }).waitFor();
  await page.locator('#sockets tr', { hasText: '(this page)' }).waitFor();

  // The defaults deliver to both; messages arrive newest first, each with its time.
  for (const data of ['hello, first hour', 'and a second one']) {
    await page.fill('#push-data', data);
    await page.click('#push');
    await page.locator('#push-result:not(.warning)', { hasText: 'sent to 2 socket(s)' }).waitFor();
    await page.locator('#messages li:first-child', { hasText: data }).waitFor();
  }
  await expect(page.locator('#messages li').allTextContents()).resolves.toEqual([
    expect.stringMatching(/^\d\d:\d\d:\d\d #2 · [0-9a-f-]{36} · and a second one$/),
    expect.stringMatching(/^\d\d:\d\d:\d\d #1 · [0-9a-f-]{36} · hello, first hour$/),
  ]);
  await expect.poll(() => terminal.received, { timeout: 5000 }).toEqual(['hello, first hour', 'and a second one']);

  // Clearing every receiver disables Push and says why; a receiver the service refuses is explained next to Push.
  await page.fill('#push-sockets', '');
  expect(await isDisabled(page, '#push')).toBe(true);
  await expect(page.textContent('#push-why')).resolves.toBe('Name socket ids (* for all) or tags.');
  await page.fill('#push-tags', 'x'.repeat(300));
  await page.click('#push');
  const pushProblem = page.locator('#push-section .problem');
  await pushProblem.waitFor();
  await expect(pushProblem.textContent()).resolves.toMatch(/POST \/v1\/messages answered 422/);

  await mkdir(join(ROOT, 'test-results'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-results/console.png'), fullPage: true });
  terminal.ws.close();
  await page.close();
  return { pageErrors, notFound };
}
