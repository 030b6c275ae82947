import { describe, expect, it } from 'vitest';
import { exports } from 'cloudflare:workers';
import { ADMIN_BASE, api } from './helpers';

const get = (url: string) => exports.default.fetch(url, { redirect: 'manual' });

describe('the live console', () => {
  it('redirects /console to /console/ on a tenant host so relative links resolve', async () => {
    const res = await get('https://foo.example.com/console?x=1');
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/console/?x=1');
  });

  it('serves the console page and its script on a tenant host', async () => {
    const page = await get('https://foo.example.com/console/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>MWS console</title>');
    const script = await get('https://foo.example.com/console/console.js');
    expect(script.status).toBe(200);
    expect(await script.text()).toContain("'/v1/sockets'");
  });

  it('serves the console under the gateway prefix, keeping the prefix in the redirect', async () => {
    const redirect = await get('https://example.com/v1/gateways/foo/console');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/v1/gateways/foo/console/');
    const page = await get('https://example.com/v1/gateways/foo/console/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>MWS console</title>');
  });

  it('keeps GET / as the JSON service info on tenant and apex hosts', async () => {
    expect((await api('GET', 'https://foo.example.com/')).body).toMatchObject({ name: 'MWS', tenant: 'foo' });
    expect((await api('GET', `${ADMIN_BASE}/`)).body).toMatchObject({ name: 'MWS', tenant: null });
  });

  it('does not serve the console on the apex host', async () => {
    const res = await api('GET', `${ADMIN_BASE}/console/`);
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('not_found');
  });

  it('answers other methods on /console/ with the JSON error envelope', async () => {
    const res = await api('POST', 'https://foo.example.com/console/', { body: {} });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('not_found');
  });
});

describe('the console script', () => {
  it('asks presence for a tag and lists webhooks with their recent deliveries', async () => {
    const script = await (await get('https://foo.example.com/console/console.js')).text();
    expect(script).toContain("'/v1/tags/'");
    expect(script).toContain("'/deliveries?limit=10'");
    const page = await (await get('https://foo.example.com/console/')).text();
    expect(page).toContain('id="presence-count"');
    expect(page).toContain('id="webhook-list"');
  });
});
