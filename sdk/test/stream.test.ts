import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MwsClient, type MwsClientEvents, type MwsClientOptions } from '../src/client.js';
import { encodeBinaryMessage, type HelloFrame } from '../src/protocol.js';
import { nextEvent, sleep, startFakeMws, type FakeMws, type ServerConnection } from './support/ws-server.js';

let server: FakeMws;
const clients: MwsClient[] = [];

beforeEach(async () => {
  server = await startFakeMws();
  server.speaksV2 = true;
});

afterEach(async () => {
  clients.splice(0).forEach((client) => client.close());
  await server.stop();
});

function makeClient(options: Partial<MwsClientOptions> = {}) {
  let uriCalls = 0;
  const client = new MwsClient({
    getUri: async () => `${server.url}/?token=t${++uriCalls}`,
    pingIntervalMs: 60_000,
    reconnect: { baseDelayMs: 10, maxDelayMs: 40 },
    ...options,
  });
  clients.push(client);
  const received: MwsClientEvents['message'][] = [];
  client.on('message', (m) => received.push(m));
  const next = <K extends keyof MwsClientEvents>(type: K, match?: (event: MwsClientEvents[K]) => boolean) =>
    nextEvent<MwsClientEvents[K]>((listener) => client.on(type, listener), match);
  return { client, received, next };
}

const hello = (conn: ServerConnection, fields: Partial<HelloFrame> = {}) =>
  conn.ws.send(JSON.stringify({ type: 'hello', socket: 's', epoch: 'E1', seq: 0, resume: 'tok.en', window: 1 << 20, ...fields }));
const msg = (conn: ServerConnection, seq: number, data = `m${seq}`) => conn.ws.send(JSON.stringify({ type: 'msg', seq, id: `id-${seq}`, data }));

describe('MwsClient over mws.v2', () => {
  it('offers mws.v2, opens on the hello and emits messages with their id and seq', async () => {
    const { client, received, next } = makeClient();
    const opened = next('open');
    client.connect();
    const conn = await server.nthConnection(1);
    expect(conn.ws.protocol).toBe('mws.v2');
    hello(conn);
    expect(await opened).toEqual({ attempt: 0, resumed: null });
    msg(conn, 1, 'first');
    await next('message');
    expect(received).toEqual([{ data: 'first', id: 'id-1', seq: 1 }]);
  });

  it('resumes on reconnect from the last message it processed, and never emits a message twice', async () => {
    const { client, received, next } = makeClient();
    client.connect();
    const first = await server.nthConnection(1);
    hello(first, { resume: 'abc.def' });
    msg(first, 1);
    msg(first, 2);
    await next('message', (m) => m.seq === 2);
    first.ws.terminate();
    const second = await server.nthConnection(2);
    expect(second.path).toBe(`/?token=t2&resume=${encodeURIComponent('2.abc.def')}`);
    const opened = next('open');
    hello(second, { seq: 2, resumed: true, resume: 'ghi.jkl' });
    expect((await opened).resumed).toBe(true);
    msg(second, 2); // a duplicate of what it had
    msg(second, 3);
    await next('message', (m) => m.seq === 3);
    expect(received.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('emits recoveryFailed with the reason, then continues from the new position', async () => {
    const { client, received, next } = makeClient();
    client.connect();
    const first = await server.nthConnection(1);
    hello(first);
    msg(first, 5);
    await next('message');
    first.ws.terminate();
    const second = await server.nthConnection(2);
    const failed = next('recoveryFailed');
    hello(second, { epoch: 'E2', seq: 40, resumed: false });
    second.ws.send(JSON.stringify({ type: 'resume_failed', reason: 'history_trimmed', message: 'gone', seq: 40 }));
    expect(await failed).toEqual({ reason: 'history_trimmed', message: 'gone' });
    msg(second, 41);
    await next('message', (m) => m.seq === 41);
    expect(received.map((m) => m.seq)).toEqual([5, 41]);
  });

  it('acknowledges cumulatively each time a quarter of the window arrived, and not for a trickle', async () => {
    const { client, next } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    const frameSize = JSON.stringify({ type: 'msg', seq: 10, id: 'id-10', data: 'x'.repeat(60) }).length;
    hello(conn, { window: 4 * 5 * frameSize }); // an ack every 5 such frames
    for (let seq = 10; seq < 22; seq++) msg(conn, seq, 'x'.repeat(60));
    await next('message', (m) => m.seq === 21);
    await sleep(50);
    expect(conn.received.filter((f) => f !== 'ping')).toEqual([JSON.stringify({ type: 'ack', seq: 14 }), JSON.stringify({ type: 'ack', seq: 19 })]);
  });

  it('emits binary messages as bytes', async () => {
    const { client, next } = makeClient();
    client.connect();
    const conn = await server.nthConnection(1);
    hello(conn);
    const message = next('message');
    conn.ws.send(encodeBinaryMessage(1, 'bin-1', new Uint8Array([104, 105, 0, 255])));
    expect(await message).toEqual({ data: new TextDecoder().decode(new Uint8Array([104, 105, 0, 255])), bytes: new Uint8Array([104, 105, 0, 255]), id: 'bin-1', seq: 1 });
  });

  it('offers no subprotocol and sends no resume with protocol: raw', async () => {
    const { client, next } = makeClient({ protocol: 'raw' });
    const opened = next('open');
    client.connect();
    const conn = await server.nthConnection(1);
    expect(conn.ws.protocol).toBe('');
    await opened;
    conn.ws.terminate();
    expect((await server.nthConnection(2)).path).toBe('/?token=t2');
  });
});
