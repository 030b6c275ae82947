import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ServerConnection {
  /** The request path and query the client connected with, e.g. "/?token=t1". */
  path: string;
  ws: WebSocket;
  received: string[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A real WebSocket server on 127.0.0.1 that behaves like MWS as far as the client can tell. */
export interface FakeMws {
  url: string;
  connections: ServerConnection[];
  /** Answer `ping` with `pong` (default true). */
  answerPings: boolean;
  /** How many of the next upgrade requests to refuse with HTTP 503. */
  refuseNext: number;
  /** Answer the `mws.v2` subprotocol when offered (default false: the fake speaks raw, like a pre-v2 server). */
  speaksV2: boolean;
  /** Upgrade requests seen, refused or not. */
  upgradeAttempts: number;
  nthConnection(n: number, timeoutMs?: number): Promise<ServerConnection>;
  stop(): Promise<void>;
}

export async function startFakeMws(): Promise<FakeMws> {
  const waiters: Array<() => void> = [];
  const fake: FakeMws = {
    url: '',
    connections: [],
    answerPings: true,
    refuseNext: 0,
    speaksV2: false,
    upgradeAttempts: 0,
    nthConnection: (n, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection #${n} within ${timeoutMs} ms (have ${fake.connections.length})`)), timeoutMs);
        const check = (): void => {
          const conn = fake.connections[n - 1];
          if (conn !== undefined) {
            clearTimeout(timer);
            resolve(conn);
          } else waiters.push(check);
        };
        check();
      }),
    stop: () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (offered) => (fake.speaksV2 && offered.has('mws.v2') ? 'mws.v2' : false),
    verifyClient: (_info, done) => {
      fake.upgradeAttempts++;
      if (fake.refuseNext > 0) {
        fake.refuseNext--;
        done(false, 503, 'try later');
      } else done(true);
    },
  });
  wss.on('connection', (ws, request) => {
    const received: string[] = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (raw) => {
      const text = raw.toString();
      received.push(text);
      if (text === 'ping' && fake.answerPings) ws.send('pong');
    });
    fake.connections.push({ path: request.url ?? '', ws, received, closed });
    waiters.splice(0).forEach((wake) => wake());
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  fake.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  return fake;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first event of `type` that passes `match`, or rejects after the timeout. */
export function nextEvent<E>(
  subscribe: (listener: (event: E) => void) => () => void,
  match: (event: E) => boolean = () => true,
  timeoutMs = 3000,
): Promise<E> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = subscribe((event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}
