import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MwsBackend, MwsError } from '../src/server.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

let server: Server;
let origin: string;
const seen: Seen[] = [];
/** The next answer the fake API gives. */
let answer: { status: number; body: unknown } = { status: 200, body: {} };

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  seen.length = 0;
});

const backend = () => new MwsBackend({ baseUrl: `${origin}/v1/gateways/foo/`, securityToken: 'mws_secret' });

describe('MwsBackend', () => {
  it('pushes with POST /v1/messages, the bearer token and the exact JSON body, and returns the 201 answer', async () => {
    const created = { id: 'm1', data: 'hi', receivers: { sockets: ['*'], tags: null }, sent: 2 };
    answer = { status: 201, body: created };
    const result = await backend().push('hi', { sockets: ['*'] });
    expect(result).toEqual(created);
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/gateways/foo/v1/messages',
        authorization: 'Bearer mws_secret',
        contentType: 'application/json',
        body: JSON.stringify({ data: 'hi', receivers: { sockets: ['*'], tags: null } }),
      },
    ]);
  });

  it('creates a socket with POST /v1/sockets and returns its uri', async () => {
    const reserved = { id: 'a', uri: 'ws://x/?token=t', expiresAt: '2030-01-01T00:00:00.000Z', tags: ['news'] };
    answer = { status: 201, body: reserved };
    expect(await backend().createSocket({ tags: ['news'], id: 'a' })).toEqual(reserved);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/gateways/foo/v1/sockets', body: '{"tags":["news"],"id":"a"}' });
  });

  it('asks GET /v1/websocket_uri and GET /v1/sockets without a body', async () => {
    answer = { status: 200, body: { results: [] } };
    expect(await backend().listSockets()).toEqual({ results: [] });
    answer = { status: 200, body: { id: 'b', uri: 'ws://x', expiresAt: 'e', tags: [] } };
    expect((await backend().websocketUri()).id).toBe('b');
    expect(seen.map((s) => [s.method, s.url, s.body, s.contentType])).toEqual([
      ['GET', '/v1/gateways/foo/v1/sockets', '', undefined],
      ['GET', '/v1/gateways/foo/v1/websocket_uri', '', undefined],
    ]);
  });

  it('encodes the socket id in the path of getSocket and deleteSocket', async () => {
    answer = { status: 200, body: { id: 'a b/c', connectedAt: 'x', tags: [] } };
    expect((await backend().getSocket('a b/c')).id).toBe('a b/c');
    answer = { status: 200, body: {} };
    await backend().deleteSocket('a b/c');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /v1/gateways/foo/v1/sockets/a%20b%2Fc',
      'DELETE /v1/gateways/foo/v1/sockets/a%20b%2Fc',
    ]);
  });

  it('throws an MwsError with status, reason and message for an error answer', async () => {
    answer = { status: 401, body: { error: { reason: 'unauthorized', message: 'Invalid security token for this tenant.' } } };
    const error = await backend().listSockets().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MwsError);
    expect(error).toMatchObject({ status: 401, reason: 'unauthorized', message: 'Invalid security token for this tenant.', errors: [] });
  });

  it('throws an MwsError carrying the field errors of a 422 answer', async () => {
    const errors = [{ reason: 'required', property: 'data', message: 'data is required.' }];
    answer = { status: 422, body: { errors } };
    const error = await backend().push('', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 422, reason: 'unprocessable_entity', message: 'data is required.', errors });
  });

  it('throws an MwsError for a non-JSON error answer', async () => {
    answer = { status: 502, body: undefined };
    const error = await backend().listSockets().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, reason: 'http_error' });
  });

  it('uses the fetch it is given', async () => {
    const calls: string[] = [];
    const client = new MwsBackend({
      baseUrl: 'https://foo.example.com',
      securityToken: 't',
      fetch: async (url, init) => {
        calls.push(`${init.method} ${url} ${init.headers.authorization}`);
        return new Response(JSON.stringify({ results: [] }), { status: 200 });
      },
    });
    await client.listSockets();
    expect(calls).toEqual(['GET https://foo.example.com/v1/sockets Bearer t']);
  });
});
