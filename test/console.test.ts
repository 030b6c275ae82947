import { describe, expect, it } from 'vitest';
import { exports } from 'cloudflare:workers';
import { ADMIN_BASE, api, newTenant } from './helpers';

/** As a browser navigates: it asks for HTML. */
const get = (url: string) => exports.default.fetch(url, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });

describe('the live console', () => {
  it('redirects /console to /console/ on a tenant host so relative links resolve', async () => {
    const res = await get('https://foo.example.com/console?x=1');
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/console/?x=1');
  });

  it('serves the console page and its script on the host of a tenant that exists', async () => {
    const { base } = await newTenant();
    const page = await get(`${base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>MWS console</title>');
    const script = await get(`${base}/console/console.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain("'/v1/sockets'");
  });

  it('serves each script the console page loads, and each module those scripts import, as JavaScript', async () => {
    const { base } = await newTenant();
    const page = await (await get(`${base}/console/`)).text();
    const pending = [...page.matchAll(/<script type="module" src="([\w-]+\.js)"><\/script>/g)].map((m) => m[1]!);
    const served: string[] = [];
    for (let file = pending.shift(); file !== undefined; file = pending.shift()) {
      if (served.includes(file)) continue;
      const res = await get(`${base}/console/${file}`);
      expect([file, res.status, res.headers.get('content-type')]).toEqual([file, 200, 'text/javascript; charset=utf-8']);
      pending.push(...[...(await res.text()).matchAll(/^import .+ from '\.\/([\w-]+\.js)';$/gm)].map((m) => m[1]!));
      served.push(file);
    }
    expect(served.sort()).toEqual(['console.js', 'page.js', 'sockets.js']);
  });

  it('serves the console under the gateway prefix, keeping the prefix in the redirect', async () => {
    const { name } = await newTenant();
    const redirect = await get(`https://example.com/v1/gateways/${name}/console`);
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe(`/v1/gateways/${name}/console/`);
    const page = await get(`https://example.com/v1/gateways/${name}/console/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>MWS console</title>');
  });

  it('says there is no such tenant, and how to create one, instead of loading the console for a tenant that does not exist', async () => {
    for (const url of ['https://nobody-here.example.com/console/', 'https://example.com/v1/gateways/nobody-here/console/']) {
      const res = await get(url);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('text/html');
      const text = await res.text();
      expect(text).toContain('No tenant named "nobody-here"');
      expect(text).toContain(`-d '{"name": "nobody-here"}' https://example.com/admin/tenants`);
      expect(text).toContain('npm run quickstart -- nobody-here');
    }
  });

  it('answers an API client (no text/html in Accept) asking for the console of a missing tenant or the service host with the JSON envelope', async () => {
    const missing = await api('GET', 'https://example.com/v1/gateways/nobody-here/console/');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toEqual({ reason: 'tenant_not_found', message: 'No tenant named "nobody-here".' });
    const service = await api('GET', `${ADMIN_BASE}/console/`);
    expect(service.status).toBe(404);
    expect(service.body.error.reason).toBe('not_found');
    expect(service.body.error.message).toContain('https://example.com/v1/gateways/<tenant>/console/ or https://<tenant>.example.com/console/');
  });

  it('answers a console address with a name that cannot be a tenant with the same page, its name escaped', async () => {
    const res = await get('https://example.com/v1/gateways/%3Cb%3E/console/');
    expect(res.status).toBe(404);
    const text = await res.text();
    expect(text).toContain('No tenant named "&lt;b&gt;"');
    expect(text).not.toContain('<b>');
  });

  it('keeps GET / as the JSON service info on tenant and apex hosts', async () => {
    expect((await api('GET', 'https://foo.example.com/')).body).toMatchObject({ name: 'MWS', tenant: 'foo' });
    expect((await api('GET', `${ADMIN_BASE}/`)).body).toMatchObject({ name: 'MWS', tenant: null });
  });

  it('answers /console/ on the service host with a page that says where each tenant\'s console is', async () => {
    const res = await get(`${ADMIN_BASE}/console/`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('text/html');
    const text = await res.text();
    expect(text).toContain('https://example.com/v1/gateways/&lt;tenant&gt;/console/');
    expect(text).toContain('https://&lt;tenant&gt;.example.com/console/');
    expect(text).toContain('<form');
    expect((await get(`${ADMIN_BASE}/console/console.css`)).status).toBe(200);
  });

  it('sends the service host\'s tenant form on to that tenant\'s console', async () => {
    const res = await get(`${ADMIN_BASE}/console/?tenant=acme`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/v1/gateways/acme/console/');
  });

  it('answers /favicon.ico with 204 on the service host and on a tenant host, and the page names an inline icon', async () => {
    for (const url of [`${ADMIN_BASE}/favicon.ico`, 'https://foo.example.com/favicon.ico']) {
      const res = await get(url);
      expect(res.status).toBe(204);
    }
    const { base } = await newTenant();
    expect(await (await get(`${base}/console/`)).text()).toMatch(/<link rel="icon" href="data:/);
  });

  it('answers other methods on /console/ with the JSON error envelope', async () => {
    const res = await api('POST', 'https://foo.example.com/console/', { body: {} });
    expect(res.status).toBe(404);
    expect(res.body.error.reason).toBe('not_found');
  });
});

describe('the console script', () => {
  it('asks presence for a tag and lists webhooks with their recent deliveries', async () => {
    const tenant = await newTenant();
    const script = await (await get(`${tenant.base}/console/console.js`)).text();
    expect(script).toContain("'/v1/tags/'");
    expect(script).toContain("'/deliveries?limit=10'");
    const page = await (await get(`${tenant.base}/console/`)).text();
    expect(page).toContain('id="presence-count"');
    expect(page).toContain('id="webhook-list"');
  });
});
