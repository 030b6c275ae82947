/**
 * Clients that misbehave on purpose, and the measures that watch the server while they do, for the soak script
 * (bench/soak.mjs), the benchmark (bench/run.mjs) and the e2e tests. A raw client speaks WebSocket over a plain TCP
 * socket so it can do what a library would not: stop reading, or never answer the server's close.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';

const PAGE_SIZE = 4096;
/** Clients keep the start of each message only: a soak pushes gigabytes. */
const HEAD_BYTES = 32;

/**
 * Opens a WebSocket over raw TCP. Options: `reading` (false: the client never reads its TCP stream after the
 * handshake, so the server's frames pile up), `answerClose` (false: it reads the server's close frame but never
 * answers it). Resolves once the server accepted the upgrade (HTTP 101), rejects with the status otherwise.
 */
export function openRawSocket(uri, { reading = true, answerClose = true } = {}) {
  const url = new URL(uri.replace(/^ws/, 'http'));
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port || 80), url.hostname);
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    const onHandshake = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHandshake);
      socket.off('error', reject);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head.subarray(0, end).toString())?.[1]);
      if (status !== 101) {
        socket.destroy();
        reject(Object.assign(new Error(`upgrade refused with HTTP ${status}`), { status }));
        return;
      }
      const raw = new RawSocket(socket, answerClose);
      raw.feed(head.subarray(end + 4));
      socket.on('data', (data) => raw.feed(data));
      if (!reading) socket.pause();
      resolve(raw);
    };
    socket.on('data', onHandshake);
  });
}

class RawSocket {
  constructor(socket, answerClose) {
    this.socket = socket;
    this.answerClose = answerClose;
    /** The first HEAD_BYTES of each message received, `pong`s included. */
    this.messages = [];
    /** The server's close frame, once read: { code, reason }. */
    this.closeFrame = null;
    /** True once the TCP connection ended. */
    this.ended = false;
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    socket.on('error', () => {});
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Sends the keepalive `ping` (a masked text frame, as every client frame must be). */
  ping() {
    this.send('ping');
  }

  send(text) {
    if (!this.socket.destroyed) this.socket.write(maskedFrame(0x1, Buffer.from(text)));
  }

  /** Starts reading what the server sent (a client that stopped reading catches up). */
  resume() {
    this.socket.resume();
  }

  /** Ends the TCP connection without a closing handshake. */
  destroy() {
    this.socket.destroy();
  }

  /** Resolves once `check()` holds, or rejects after `timeoutMs`. */
  until(check, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const poll = () => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(poll);
      };
      poll();
    });
  }

  wake() {
    for (const wake of this.waiters.splice(0)) wake();
  }

  feed(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const frame = parseFrame(this.buffer);
      if (frame === null) break;
      this.buffer = this.buffer.subarray(frame.size);
      if (frame.opcode === 0x1 || frame.opcode === 0x2) this.messages.push(frame.payload.subarray(0, HEAD_BYTES).toString('utf8'));
      else if (frame.opcode === 0x8) {
        this.closeFrame = { code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005, reason: frame.payload.subarray(2).toString('utf8') };
        if (this.answerClose && !this.socket.destroyed) this.socket.end(maskedFrame(0x8, frame.payload.subarray(0, 2)));
      } else if (frame.opcode === 0x9) this.socket.write(maskedFrame(0xa, frame.payload));
    }
    this.wake();
  }
}

/** One server frame (unmasked, unfragmented as workerd sends them) at the start of `buffer`, or null if incomplete. */
function parseFrame(buffer) {
  if (buffer.length < 2) return null;
  let length = buffer[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return null;
  return { opcode: buffer[0] & 0x0f, payload: buffer.subarray(offset, offset + length), size: offset + length };
}

function maskedFrame(opcode, payload) {
  const mask = randomBytes(4);
  const length = payload.length;
  if (length > 0xffff) throw new Error('client frames here are short');
  const head = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length]) : Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

/**
 * A healthy client on the `ws` library: reads everything and pings after every `pingEveryBytes` it reads (a ping
 * answered in order is how a client shows the server it keeps up) and every `pingEveryMs`; 0 turns either off.
 * `messages` holds the first HEAD_BYTES of what arrived (enough for a sequence number), `pong`s left out.
 */
export function openHealthyClient(uri, { pingEveryBytes = 256 * 1024, pingEveryMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { perMessageDeflate: false });
    const client = { ws, messages: [], closeCode: null, unreadBytes: 0 };
    if (pingEveryMs > 0) {
      const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), pingEveryMs);
      ws.once('close', () => clearInterval(timer));
    }
    ws.on('message', (data) => {
      if (data.length === 4 && data.toString('utf8') === 'pong') return;
      client.messages.push(data.subarray(0, HEAD_BYTES).toString('utf8'));
      client.unreadBytes += data.length;
      if (pingEveryBytes > 0 && client.unreadBytes >= pingEveryBytes && ws.readyState === WebSocket.OPEN) {
        client.unreadBytes = 0;
        ws.send('ping');
      }
    });
    ws.once('open', () => resolve(client));
    ws.once('close', (code) => (client.closeCode = code));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused with HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

/** Counts what a healthy client missed or got twice, given messages that start with `<seq>|` for seq in [0, expected). */
export function lostAndDuplicated(messages, expected, prefix = '') {
  const seen = new Uint8Array(expected);
  let duplicated = 0;
  let outOfOrder = 0;
  let last = -1;
  for (const message of messages) {
    if (!message.startsWith(prefix)) continue;
    const seq = Number.parseInt(message.slice(prefix.length), 10);
    if (!(seq >= 0 && seq < expected)) continue;
    if (seen[seq]) duplicated++;
    seen[seq] = 1;
    if (seq < last) outOfOrder++;
    last = seq;
  }
  return { lost: seen.reduce((n, s) => n + (s ? 0 : 1), 0), duplicated, outOfOrder };
}

/** The resident memory of the workerd processes under `rootPid` (npm start's process), in MiB. */
export function workerdRssMiB(rootPid) {
  let pages = 0;
  for (const pid of processTree(rootPid)) {
    const stat = readStat(pid);
    if (stat !== null && stat.comm === 'workerd') pages += stat.rssPages;
  }
  return (pages * PAGE_SIZE) / 2 ** 20;
}

/** The pid and all its descendants. */
export function processTree(rootPid) {
  const parentOf = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== null) parentOf.set(Number(entry), stat.ppid);
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), ppid: Number(fields[1]), rssPages: Number(fields[21]) };
  } catch {
    return null;
  }
}
