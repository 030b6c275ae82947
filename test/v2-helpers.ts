import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { decodeBinaryMessage, type HelloFrame, type ResumeFailedFrame } from '../sdk/src/protocol';
import { api, waiterOn, type ConnectOptions, type TestTenant } from './helpers';

/** A message as a mws.v2 client sees it: text in `data`, binary in `bytes`. */
export interface V2Message {
  type: 'msg';
  seq: number;
  id: string;
  data?: string;
  bytes?: Uint8Array;
}

export type V2Frame = HelloFrame | ResumeFailedFrame | V2Message;

export interface V2TestSocket {
  ws: WebSocket;
  /** The subprotocol the 101 answered, or null. */
  protocol: string | null;
  frames: V2Frame[];
  hello(): Promise<HelloFrame>;
  resumeFailed(): Promise<ResumeFailedFrame>;
  /** Waits until `count` messages (msg frames) arrived in total; returns all of them. */
  messages(count: number, timeoutMs?: number): Promise<V2Message[]>;
  /** True if no further frame arrives within the time. */
  quietFor(ms: number): Promise<boolean>;
  /** The position to resume from: the last message seen, else the hello's seq. */
  resumeParam(): string;
  ack(seq: number): void;
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

/** Opens a mws.v2 WebSocket to a connect uri, optionally resuming. */
export async function connectV2(uri: string, resume?: string, options: ConnectOptions = {}): Promise<V2TestSocket> {
  const url = uri.replace(/^ws/, 'http') + (resume === undefined ? '' : `&resume=${encodeURIComponent(resume)}`);
  const res = await exports.default.fetch(url, { headers: { upgrade: 'websocket', 'sec-websocket-protocol': 'mws.v2' } });
  const ws = res.webSocket;
  if (ws === null) throw new Error(`upgrade refused with HTTP ${res.status}: ${await res.text()}`);
  ws.accept({ allowHalfOpen: options.neverAnswersClose === true });
  // Binary messages arrive as ArrayBuffers, as in browsers set so (the Workers default is Blob).
  ws.binaryType = 'arraybuffer';
  const frames: V2Frame[] = [];
  const wakers: Array<() => void> = [];
  let closeInfo: { code: number; reason: string } | null = null;
  ws.addEventListener('message', (event) => {
    if (typeof event.data === 'string') frames.push(JSON.parse(event.data) as V2Frame);
    else {
      const decoded = decodeBinaryMessage(new Uint8Array(event.data as ArrayBuffer));
      if (decoded === null) throw new Error('undecodable binary frame');
      frames.push({ type: 'msg', seq: decoded.seq, id: decoded.id, bytes: decoded.bytes.slice() });
    }
    wakers.splice(0).forEach((wake) => wake());
  });
  ws.addEventListener('close', (event) => {
    closeInfo = { code: event.code, reason: event.reason };
    wakers.splice(0).forEach((wake) => wake());
  });
  const waitFor = waiterOn(wakers, () => `; frames: ${JSON.stringify(frames).slice(0, 500)}`);
  const msgs = () => frames.filter((f): f is V2Message => f.type === 'msg');
  return {
    ws,
    protocol: res.headers.get('sec-websocket-protocol'),
    frames,
    hello: () => waitFor(() => frames.find((f): f is HelloFrame => f.type === 'hello'), 2000, 'hello'),
    resumeFailed: () => waitFor(() => frames.find((f): f is ResumeFailedFrame => f.type === 'resume_failed'), 2000, 'resume_failed'),
    messages: (count, timeoutMs = 3000) => waitFor(() => (msgs().length >= count ? msgs() : undefined), timeoutMs, `${count} messages`),
    quietFor: (ms) => {
      const seen = frames.length;
      return waitFor(() => (frames.length > seen ? true : undefined), ms, 'a frame').then(
        () => false,
        () => true,
      );
    },
    resumeParam: () => {
      const hello = frames.find((f): f is HelloFrame => f.type === 'hello');
      if (hello === undefined) throw new Error('no hello yet');
      const last = msgs().at(-1);
      return `${last?.seq ?? hello.seq}.${hello.resume}`;
    },
    ack: (seq) => ws.send(JSON.stringify({ type: 'ack', seq })),
    closed: (timeoutMs = 2000) => waitFor(() => closeInfo ?? undefined, timeoutMs, 'the socket to close'),
  };
}

/** Reserves a socket with this id and tags and connects it with mws.v2, optionally resuming. */
export async function connectV2Socket(tenant: TestTenant, request: { id: string; tags?: string[] }, resume?: string): Promise<V2TestSocket> {
  const res = await api('POST', `${tenant.base}/v1/sockets`, { token: tenant.token, body: request });
  expect(res.status).toBe(201);
  return connectV2(res.body.uri, resume);
}

/** Closes a client socket and waits until the service has seen it go. */
export async function drop(socket: V2TestSocket): Promise<void> {
  socket.ws.close(1000, 'walking into a tunnel');
  await socket.closed();
}

export const texts = (messages: V2Message[]): string[] => messages.map((m) => m.data ?? `<${m.bytes?.byteLength} bytes>`);
