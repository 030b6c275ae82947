#!/usr/bin/env node
/**
 * `npm run bench`: builds MWS, serves it on workerd (scripts/serve.mjs), and in the same run serves the floor
 * (bench/floor, a bare send-loop Durable Object on workerd) and a Node `ws` reference server. Drives each with the
 * same load from this one process, checks that every socket got every message exactly once, prints a table and
 * writes bench/results/latest.json. Loopback only; bounded (about 14 minutes with the defaults).
 *
 *   npm run bench                      1,000 sockets, every case
 *   npm run bench -- --quick           fewer pushes per case (about a quarter)
 *   npm run bench -- --sockets 2000    another socket count
 *   npm run bench -- --rounds 5        rounds per case (default 3; the table shows the median round)
 *   npm run bench -- --only mws,floor  a subset of the servers (floor, mws, mws-history, mws-v2, mws-sharded, mws-webhook, ws)
 *
 * `mws-history` is MWS with history recording every push (`history.mode: "always"`) to raw sockets; `mws-v2` has
 * mws.v2 sockets (envelopes, acks by quarter window as the SDK does) and also runs the mass-resume case: every socket
 * drops, 1,000 messages are pushed, every socket reconnects with its resume position at once.
 * After the rounds, one more case per server: clients that stop reading (bench/slow-clients-case.mjs); then the
 * connect-rate cycles (CONNECT_SAMPLES_PER_CYCLE).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { processTree } from './clients.mjs';
import { runSlowClientsCase } from './slow-clients-case.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const PAGE_SIZE = 4096;
const CLOCK_TICKS = 100; // USER_HZ on Linux
const STARTUP_TIMEOUT_MS = 90_000;
const CASE_IDLE_TIMEOUT_MS = 10_000;
const CASE_MAX_MS = 60_000;
const SETTLE_MS = 300;
const TAG = 't10';
/**
 * Raw clients ping after every this many bytes they read, as a client that takes a lot should: a ping answered in
 * order shows the server it keeps up (MWS closes raw sockets that take more than a client is assumed to read
 * without one; README, "Slow and stuck clients"). Every server answers `ping` with `pong`, the floor included.
 */
const PING_EVERY_BYTES = 256 * 1024;
const COLD_SOCKETS = 1000;
/**
 * Connect-rate measurements come after the delivery cases, in cycles: per cycle and server, CONNECT_ABSORBING
 * unmeasured connects of SOCKETS more sockets, then CONNECT_SAMPLES_PER_CYCLE measured ones on top of them, then all of
 * them closed. The runtime tears a closed socket down at its next major garbage collection, not at the close (perf on
 * workerd: GC, C++ exception unwinding in the WebSocket pipes, destructors), and that work, 150-600 ms of the server's
 * thread per 1,000 closed sockets, landed in whichever connect measurement came next while closes and measurements
 * alternated: one server's measurements in one run ranged 1,600-4,300/s. One unmeasured connect did not always set
 * off that collection; two did.
 */
const CONNECT_ABSORBING = 2;
const CONNECT_SAMPLES_PER_CYCLE = 2;
const TENANT = 'bench';

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    sockets: { type: 'string', default: '1000' },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    only: { type: 'string', default: 'floor,mws,mws-history,mws-v2,mws-sharded,mws-webhook,ws' },
    out: { type: 'string', default: path.join(RESULTS_DIR, 'latest.json') },
  },
  strict: true,
});
const SOCKETS = Number(flags.sockets);
if (!Number.isInteger(SOCKETS) || SOCKETS < 10 || SOCKETS > 8000) {
  throw new Error('--sockets must be an integer between 10 and 8000 (the open-file limit bounds it)');
}
const SCALE = flags.quick ? 0.25 : 1;
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 1 : 3));
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 9) throw new Error('--rounds must be an integer between 1 and 9');
const ONLY = new Set(flags.only.split(','));

/**
 * The cases, run in this order against every server. `pushes` scale with --quick; throughput cases keep
 * `concurrency` pushes in flight, the paced case sends `rate` pushes per second and measures latency at low load.
 * A throughput case takes about 3 s or more of the floor's time at 1,000 sockets: cases of half a second or one (as
 * tag 16 KB and tag 100 B were, with 120 and 600 pushes) swung up to 2.4 × between rounds of the same server.
 */
const CASES = [
  { name: 'broadcast 100 B', target: 'all', size: 100, pushes: 150, concurrency: 4 },
  { name: 'broadcast 16 KB', target: 'all', size: 16_384, pushes: 72, concurrency: 2 },
  { name: 'tag 10% 100 B', target: 'tag', size: 100, pushes: 1500, concurrency: 4 },
  { name: 'tag 10% 16 KB', target: 'tag', size: 16_384, pushes: 700, concurrency: 4 },
  { name: 'one id 100 B', target: 'id', size: 100, pushes: 2000, concurrency: 4 },
  { name: 'paced broadcast 100 B', target: 'all', size: 100, pushes: 40, rate: 10, paced: true },
].map((c) => ({ ...c, pushes: Math.max(4, Math.round(c.pushes * SCALE)) }));

// ---------------------------------------------------------------- child processes

const ADMIN_TOKEN = randomBytes(24).toString('base64url');
/** Every process group we started, so that any exit path can end them. */
const children = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`\n${signal}: stopping servers`);
    process.exit(130);
  });
}

/** Starts `node <script>` in its own process group and resolves with its URL once it prints `listening on <url>`. */
function startServer(label, script, args) {
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // ALLOW_HTTP_WEBHOOKS: the mws-webhook server delivers to this process's receiver on loopback.
    env: { ...process.env, ADMIN_TOKEN, ALLOW_HTTP_WEBHOOKS: 'true', WRANGLER_SEND_METRICS: 'false' },
  });
  children.add(child);
  child.stderr.on('data', (chunk) => {
    for (const line of String(chunk).split('\n')) if (line.trim() !== '') log(`  [${label} stderr] ${line}`);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`${label} exited (${code ?? signal}) before it was ready`));
    });
  });
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  killGroup(child, 'SIGKILL'); // anything the child left behind in its group
  children.delete(child);
}

// ---------------------------------------------------------------- /proc

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state) of proc(5): ppid is 4, utime 14, stime 15, rss 24.
    return {
      comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
      ppid: Number(fields[1]),
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS,
      rssBytes: Number(fields[21]) * PAGE_SIZE,
    };
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine (all processes), from /proc/stat. */
function machineBusyMs() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS;
}

function countFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** CPU, RSS and open files summed over a server's process tree (node + workerd for the Workers). */
function serverStats(rootPid) {
  const total = { cpuMs: 0, rssBytes: 0, fds: 0, processes: [] };
  for (const pid of processTree(rootPid)) {
    const stat = readStat(pid);
    if (stat === null) continue;
    const fds = countFds(pid);
    total.cpuMs += stat.cpuMs;
    total.rssBytes += stat.rssBytes;
    total.fds += fds;
    total.processes.push({ pid, comm: stat.comm, cpuMs: stat.cpuMs, rssBytes: stat.rssBytes, fds });
  }
  return total;
}

// ---------------------------------------------------------------- HTTP

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function post(url, body, headers = {}) {
  return request('POST', url, body, headers);
}

/**
 * One HTTP request on the shared keep-alive agent. A server may close an idle kept-alive connection just as a request
 * goes out on it; Node then reports ECONNRESET on the reused socket, and the request never reached the server, so it
 * is sent once more on a fresh connection (https://nodejs.org/api/http.html#requestreusedsocket).
 */
async function request(method, url, body, headers = {}) {
  try {
    return await requestOnce(method, url, body, headers);
  } catch (err) {
    if (err.reusedSocket !== true || err.code !== 'ECONNRESET') throw err;
    return await requestOnce(method, url, body, headers);
  }
}

function requestOnce(method, url, body, headers) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body);
    const req = http.request(url, { method, agent, headers: { 'content-length': payload.length, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // keep null; the caller reports the status
        }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    req.end(payload);
  });
}

async function postOk(url, body, headers, expectStatus) {
  const res = await post(url, body, headers);
  if (res.status !== expectStatus) throw new Error(`POST ${url} -> ${res.status}: ${res.text.slice(0, 300)}`);
  return res.json;
}

// ---------------------------------------------------------------- targets

/**
 * A webhook receiver in this process: answers 204 and notes when each `socket.connected` arrived, so the delay from
 * a client's open to its webhook can be measured on one clock.
 */
const webhookReceiver = {
  url: null,
  openedAt: new Map(),
  arrivedAt: new Map(),
  delaysMs: [],
  async start() {
    const server = http.createServer(async (req, res) => {
      let body = '';
      try {
        for await (const chunk of req) body += chunk;
      } catch {
        return; // the sender went away mid-request (a server of the bench stopping): nothing to note
      }
      const now = performance.now();
      for (const event of JSON.parse(body).events) if (event.type === 'socket.connected') this.arrived(event.data.id, now);
      res.writeHead(204).end();
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.unref();
    this.url = `http://127.0.0.1:${server.address().port}/mws`;
  },
  opened(id, at) {
    const arrived = this.arrivedAt.get(id);
    if (arrived === undefined) this.openedAt.set(id, at);
    else (this.arrivedAt.delete(id), this.delaysMs.push(Math.max(0, arrived - at)));
  },
  arrived(id, at) {
    const opened = this.openedAt.get(id);
    if (opened === undefined) this.arrivedAt.set(id, at);
    else (this.openedAt.delete(id), this.delaysMs.push(at - opened));
  },
};

/** How to reserve, connect and push for each kind of server. `id` is the socket id, `tags` its tags. */
function mwsApi(base, shards = 1, options = {}) {
  let token = null;
  const name = options.tenant ?? TENANT;
  const tenantBase = `${base}/v1/gateways/${name}`;
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  // Limits high enough that the benchmark measures delivery, not the rate limiter.
  const limits = { pushesPerSecond: 100_000, connectsPerSecond: 100_000 };
  const tenant = shards > 1 ? { name, limits, shards } : { name, limits };
  return {
    async setup() {
      const created = await postOk(`${base}/admin/tenants`, JSON.stringify(tenant), { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, 201);
      token = created.securityToken;
      if (options.webhook) {
        const events = ['socket.connected', 'socket.disconnected', 'tag.occupied', 'tag.vacated'];
        await postOk(`${tenantBase}/v1/webhooks`, JSON.stringify({ url: webhookReceiver.url, events }), auth(), 201);
      }
      if (options.history !== undefined) {
        const res = await request('PUT', `${tenantBase}/v1/configuration`, JSON.stringify({ history: { mode: options.history } }), auth());
        if (res.status !== 200) throw new Error(`PUT /v1/configuration -> ${res.status}: ${res.text.slice(0, 300)}`);
      }
    },
    async reserve(id, tags) {
      return (await postOk(`${tenantBase}/v1/sockets`, JSON.stringify({ id, tags }), auth(), 201)).uri;
    },
    async push(data, target, id, tag = TAG) {
      const receivers = target === 'all' ? { sockets: ['*'], tags: null } : target === 'tag' ? { sockets: null, tags: [tag] } : { sockets: [id], tags: null };
      return (await postOk(`${tenantBase}/v1/messages`, JSON.stringify({ data, receivers }), auth(), 201)).sent;
    },
  };
}

function floorApi(base) {
  return {
    async setup() {},
    async reserve(id, tags) {
      return `${base.replace(/^http/, 'ws')}/connect?id=${encodeURIComponent(id)}&tags=${encodeURIComponent(tags.join(','))}`;
    },
    async push(data, target, id, tag = TAG) {
      const query = target === 'all' ? '' : target === 'tag' ? `?tag=${tag}` : `?id=${encodeURIComponent(id)}`;
      return (await postOk(`${base}/push${query}`, data, { 'content-type': 'text/plain; charset=utf-8' }, 200)).sent;
    },
  };
}

const SERVERS = [
  { name: 'floor', label: 'floor DO', script: 'bench/floor/serve.mjs', args: ['--port', '0'], api: floorApi },
  { name: 'mws', label: 'MWS', script: 'scripts/serve.mjs', args: ['--port', '0', '--ephemeral'], api: mwsApi },
  // Every push recorded in history (one SQLite row each), raw sockets: the cost of history on the hot path.
  { name: 'mws-history', label: 'MWS, history on', script: 'scripts/serve.mjs', args: ['--port', '0', '--ephemeral'], api: (base) => mwsApi(base, 1, { history: 'always' }) },
  // mws.v2 sockets: envelopes, history (auto mode records while they are connected), acks.
  { name: 'mws-v2', label: 'MWS, mws.v2', script: 'scripts/serve.mjs', args: ['--port', '0', '--ephemeral'], api: mwsApi, v2: true },
  // One tenant over 2 shards (one per core here): the same cases through the fan-out path.
  { name: 'mws-sharded', label: 'MWS, 2 shards', script: 'scripts/serve.mjs', args: ['--port', '0', '--ephemeral'], api: (base) => mwsApi(base, 2) },
  // One tenant with a webhook for socket and tag events, delivered to this process: connects must not slow down.
  // `unhooked`: a second tenant on the same server without a webhook, so connects with and without one are compared
  // in the same process, in turns (see connectSamples).
  {
    name: 'mws-webhook',
    label: 'MWS + webhook',
    script: 'scripts/serve.mjs',
    args: ['--port', '0', '--ephemeral'],
    api: (base) => mwsApi(base, 1, { webhook: true }),
    unhooked: (base) => mwsApi(base, 1, { tenant: `${TENANT}-unhooked` }),
  },
  { name: 'ws', label: 'Node ws', script: 'bench/reference-ws-server.mjs', args: ['--port', '0'], api: mwsApi },
].filter((s) => ONLY.has(s.name));

// ---------------------------------------------------------------- clients

const socketId = (i) => `s${i}`;
const hasTag = (i) => i % 10 === 0;
/** The socket a one-id push goes to: spread over all sockets. */
const idTarget = (seq) => (seq * 7919) % SOCKETS;

/** What the message handlers record into; replaced per case. */
let recorder = null;
let shuttingDown = false;
/** Sockets this driver closed on purpose, so their closes are not reported as failures. */
const closedByUs = new WeakSet();

function newRecorder(server, c) {
  const expected = c.target === 'all' ? SOCKETS * c.pushes : c.target === 'tag' ? countTagged() * c.pushes : c.pushes;
  return {
    server,
    pushes: c.pushes,
    counts: new Uint8Array(SOCKETS * c.pushes),
    sentAt: new Float64Array(c.pushes).fill(NaN),
    latencies: new Float64Array(expected + 1024),
    received: 0,
    stray: 0,
    expected,
    firstPushAt: NaN,
    lastReceiveAt: NaN,
  };
}

function countTagged() {
  let n = 0;
  for (let i = 0; i < SOCKETS; i++) if (hasTag(i)) n++;
  return n;
}

/** Messages are `<seq>|xxxx...`; the sequence number is read from the bytes without decoding the whole frame. */
function onMessage(server, index, data) {
  const now = performance.now();
  const r = recorder;
  if (r === null) return;
  if (r.server !== server) {
    r.stray++;
    return;
  }
  let seq = 0;
  let i = 0;
  for (; i < data.length && i < 12; i++) {
    const b = data[i];
    if (b === 0x7c) break;
    if (b < 0x30 || b > 0x39) break;
    seq = seq * 10 + (b - 0x30);
  }
  if (i === 0 || data[i] !== 0x7c || seq >= r.pushes) {
    r.stray++;
    return;
  }
  const slot = index * r.pushes + seq;
  if (r.counts[slot] < 255) r.counts[slot]++;
  if (r.received < r.latencies.length) r.latencies[r.received] = now - r.sentAt[seq];
  r.received++;
  r.lastReceiveAt = now;
}

/** Per mws.v2 socket index: the resume token of its last hello, its last seq, and bytes received since its last ack. */
const v2States = new Map();
const V2_MSG_PREFIX = '{"type":"msg","seq":';
const V2_DATA_KEY = Buffer.from('"data":"');
/** As the SDK does: one cumulative ack per quarter of the service's 1 MiB window. */
const V2_ACK_EVERY_BYTES = 256 * 1024;

/** A mws.v2 frame: messages are counted like raw ones (by the `<seq>|` their data starts with) and acked. */
function onV2Frame(server, index, ws, data) {
  const state = v2States.get(index);
  if (data[9] === 0x6d) {
    // {"type":"msg","seq":N,...: read N without parsing the whole frame.
    let seq = 0;
    for (let i = V2_MSG_PREFIX.length; data[i] >= 0x30 && data[i] <= 0x39; i++) seq = seq * 10 + (data[i] - 0x30);
    state.seq = seq;
    state.unacked += data.length;
    if (state.unacked >= V2_ACK_EVERY_BYTES) {
      state.unacked = 0;
      ws.send(`{"type":"ack","seq":${seq}}`);
    }
    onMessage(server, index, data.subarray(data.indexOf(V2_DATA_KEY) + V2_DATA_KEY.length));
    return;
  }
  const frame = JSON.parse(data.toString());
  if (frame.type === 'hello') {
    state.token = frame.resume;
    if (frame.resumed !== true) state.seq = frame.seq;
  } else {
    log(`  ${server} socket ${index}: ${frame.type} ${frame.reason ?? ''}`);
    if (recorder !== null) recorder.stray++;
  }
}

function openSocket(server, index, uri, v2 = false, resume = null) {
  return new Promise((resolve, reject) => {
    const url = resume === null ? uri : `${uri}&resume=${encodeURIComponent(resume)}`;
    const ws = v2 ? new WebSocket(url, ['mws.v2'], { perMessageDeflate: false }) : new WebSocket(url, { perMessageDeflate: false });
    if (v2) {
      const state = v2States.get(index) ?? { token: null, seq: 0, unacked: 0 };
      state.unacked = 0;
      v2States.set(index, state);
    }
    let unacknowledged = 0;
    ws.on('message', (data) => {
      if (v2) return onV2Frame(server, index, ws, data);
      if (data.length === 4 && data[0] === 0x70 && data.toString() === 'pong') return;
      onMessage(server, index, data);
      unacknowledged += data.length;
      if (unacknowledged >= PING_EVERY_BYTES) {
        unacknowledged = 0;
        ws.send('ping');
      }
    });
    ws.once('open', () => {
      if (server === 'mws-webhook') webhookReceiver.opened(socketId(index), performance.now());
      resolve(ws);
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('close', (code, reason) => {
      if (!shuttingDown && !closedByUs.has(ws) && code !== 1000 && code !== 1005) log(`  ${server} socket ${index} closed: ${code} ${reason}`);
    });
  });
}

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n, limit, task, onProgress) {
  let next = 0;
  let done = 0;
  const results = new Array(n);
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
      done++;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return results;
}

// ---------------------------------------------------------------- cases

function payload(seq, size) {
  const head = `${seq}|`;
  return head + 'x'.repeat(size - head.length);
}

/** Pushes one case, waits until every expected delivery arrived (or the time bound), and checks exactly-once. */
async function runCase(server, api, c) {
  const r = newRecorder(server.name, c);
  recorder = r;
  const pads = new Map();
  const dataFor = (seq) => {
    const head = `${seq}|`;
    const key = c.size - head.length;
    if (!pads.has(key)) pads.set(key, 'x'.repeat(key));
    return head + pads.get(key);
  };
  const expectedSent = c.target === 'all' ? SOCKETS : c.target === 'tag' ? countTagged() : 1;
  let sentMismatches = 0;
  const pushOne = async (seq) => {
    const data = dataFor(seq);
    r.sentAt[seq] = performance.now();
    const sent = await api.push(data, c.target, socketId(idTarget(seq)));
    if (sent !== expectedSent) sentMismatches++;
  };

  await untilQuiet(3_000);
  const before = serverStats(server.child.pid);
  const busyBefore = machineBusyMs();
  const clientBefore = process.cpuUsage();
  const progress = startProgress(`${server.name}: ${c.name}`, () => `${r.received}/${r.expected} deliveries`);
  r.firstPushAt = performance.now();
  if (c.paced) {
    const interval = 1000 / c.rate;
    const inFlight = [];
    for (let seq = 0; seq < c.pushes; seq++) {
      const due = r.firstPushAt + seq * interval;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(pushOne(seq));
    }
    await Promise.all(inFlight);
  } else {
    await pool(c.pushes, c.concurrency, pushOne);
  }
  const pushedAt = performance.now();
  let lastProgressAt = pushedAt;
  let lastReceived = r.received;
  while (r.received < r.expected) {
    await sleep(10);
    const now = performance.now();
    if (r.received !== lastReceived) {
      lastReceived = r.received;
      lastProgressAt = now;
    }
    if (now - lastProgressAt > CASE_IDLE_TIMEOUT_MS || now - r.firstPushAt > CASE_MAX_MS) break;
  }
  const completeAt = r.received >= r.expected ? r.lastReceiveAt : performance.now();
  await sleep(SETTLE_MS); // late duplicates would land here
  progress.stop();
  recorder = null;
  const after = serverStats(server.child.pid);
  const clientCpu = process.cpuUsage(clientBefore);
  const busyAfter = machineBusyMs();
  const wallMs = performance.now() - r.firstPushAt;
  const otherCpuMs = busyAfter - busyBefore - (after.cpuMs - before.cpuMs) - (clientCpu.user + clientCpu.system) / 1000;

  let lost = 0;
  let duplicated = 0;
  for (let seq = 0; seq < c.pushes; seq++) {
    for (let i = 0; i < SOCKETS; i++) {
      const want = c.target === 'all' || (c.target === 'tag' && hasTag(i)) || (c.target === 'id' && idTarget(seq) === i) ? 1 : 0;
      const got = r.counts[i * c.pushes + seq];
      if (got < want) lost += want - got;
      else if (got > want) duplicated += got - want;
    }
  }
  const delivered = Math.min(r.received, r.latencies.length);
  const latency = percentiles(r.latencies.subarray(0, delivered), [50, 95, 99]);
  const seconds = (completeAt - r.firstPushAt) / 1000;
  const deliveries = r.received - duplicated;
  return {
    case: c.name,
    server: server.name,
    target: c.target,
    payloadBytes: c.size,
    pushes: c.pushes,
    paced: Boolean(c.paced),
    expectedDeliveries: r.expected,
    deliveries,
    lost,
    duplicated: duplicated + r.stray,
    sentMismatches,
    seconds: round(seconds, 3),
    pushSeconds: round((pushedAt - r.firstPushAt) / 1000, 3),
    deliveriesPerSecond: Math.round(deliveries / seconds),
    pushesPerSecond: round(c.pushes / seconds, 1),
    latencyMs: { p50: round(latency[0], 2), p95: round(latency[1], 2), p99: round(latency[2], 2) },
    serverCpuMs: round(after.cpuMs - before.cpuMs, 1),
    serverCpuUsPerDelivery: round(((after.cpuMs - before.cpuMs) * 1000) / Math.max(1, deliveries), 2),
    serverCpuUtilization: round((after.cpuMs - before.cpuMs) / 1000 / seconds, 2),
    clientCpuUsPerDelivery: round((clientCpu.user + clientCpu.system) / Math.max(1, deliveries), 2),
    otherCpuCores: round(Math.max(0, otherCpuMs) / wallMs, 2),
    serverRssAfterMiB: round(after.rssBytes / 2 ** 20, 1),
  };
}

function percentiles(samples, ps) {
  if (samples.length === 0) return ps.map(() => NaN);
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
}

/**
 * A mass reconnect after a deploy: every mws.v2 socket drops, 1,000 messages of 100 B are pushed to all, then every
 * socket reconnects at once with its resume position. Times from the first reconnect to the last replayed delivery.
 */
async function runMassResume(target) {
  const c = { name: 'mass resume 1,000 × 100 B', target: 'all', size: 100, pushes: 1000 };
  const resumes = Array.from({ length: SOCKETS }, (_, i) => `${v2States.get(i).seq}.${v2States.get(i).token}`);
  await closeAll(target.sockets);
  await sleep(1000);
  for (let seq = 0; seq < c.pushes; seq++) await target.api.push(payload(seq, c.size), 'all', '');
  const uris = await pool(SOCKETS, 16, (i) => target.api.reserve(socketId(i), hasTag(i) ? [TAG] : []));
  const r = newRecorder(target.name, c);
  recorder = r;
  const before = serverStats(target.child.pid);
  const progress = startProgress(`${target.name}: ${c.name}`, () => `${r.received}/${r.expected} deliveries`);
  const startedAt = performance.now();
  r.firstPushAt = startedAt;
  r.sentAt.fill(startedAt);
  target.sockets = await pool(SOCKETS, 64, (i) => openSocket(target.name, i, uris[i], true, resumes[i]));
  const connectedAt = performance.now();
  let lastReceived = -1;
  let lastProgressAt = performance.now();
  while (r.received < r.expected) {
    await sleep(20);
    if (r.received !== lastReceived) [lastReceived, lastProgressAt] = [r.received, performance.now()];
    if (performance.now() - lastProgressAt > CASE_IDLE_TIMEOUT_MS || performance.now() - startedAt > CASE_MAX_MS * 2) break;
  }
  await sleep(SETTLE_MS);
  progress.stop();
  recorder = null;
  const after = serverStats(target.child.pid);
  let lost = 0;
  let duplicated = r.stray;
  for (let k = 0; k < r.counts.length; k++) {
    if (r.counts[k] === 0) lost++;
    else duplicated += r.counts[k] - 1;
  }
  const result = {
    case: c.name,
    server: target.name,
    sockets: SOCKETS,
    messagesPerSocket: c.pushes,
    reconnectSeconds: round((connectedAt - startedAt) / 1000, 2),
    allCaughtUpSeconds: round(((r.received >= r.expected ? r.lastReceiveAt : performance.now()) - startedAt) / 1000, 2),
    replayedPerSecond: Math.round(r.received / ((r.lastReceiveAt - startedAt) / 1000)),
    serverCpuUsPerReplayed: round(((after.cpuMs - before.cpuMs) * 1000) / Math.max(1, r.received), 2),
    lost,
    duplicated,
  };
  log(`   ${c.name} · ${target.name}: all ${SOCKETS} caught up in ${result.allCaughtUpSeconds} s (reconnects ${result.reconnectSeconds} s), ${result.replayedPerSecond} replayed/s, lost ${lost}, dup ${duplicated}`);
  return result;
}

// ---------------------------------------------------------------- servers

/** Starts a server, creates the tenant and warms it up (JIT, lazy initialisation) with a few sockets and pushes. */
async function startTarget(spec) {
  log(`\n== ${spec.label}: starting ${spec.script}`);
  const coldConnectPerSecond = await coldConnects(spec);
  const started = performance.now();
  const { child, url } = await startServer(spec.name, spec.script, spec.args);
  log(`   ready at ${url} in ${((performance.now() - started) / 1000).toFixed(1)} s (pid ${child.pid})`);
  const target = { name: spec.name, label: spec.label, child, url, api: spec.api(url), sockets: [], v2: spec.v2 === true, coldConnectPerSecond };
  await target.api.setup();
  if (spec.unhooked) {
    target.unhooked = { api: spec.unhooked(url), samples: [] };
    await target.unhooked.api.setup();
  }
  const warm = await pool(20, 10, async (i) => openSocket(spec.name, SOCKETS + i, await target.api.reserve(`warm${i}`, []), target.v2));
  for (let i = 0; i < 20; i++) await target.api.push(payload(0, 100), 'all', '');
  await closeAll(warm);
  return target;
}

/**
 * The first COLD_SOCKETS connects after start, before any warm-up (JIT and lazy initialisation cold), per second.
 * On a server of its own, stopped afterwards, so the memory the main rounds measure starts from a fresh process.
 */
async function coldConnects(spec) {
  const { child, url } = await startServer(`${spec.name}-cold`, spec.script, spec.args);
  try {
    const api = spec.api(url);
    await api.setup();
    const uris = await pool(COLD_SOCKETS, 16, (i) => api.reserve(`cold${i}`, []));
    const started = performance.now();
    const sockets = await pool(COLD_SOCKETS, 64, (i) => openSocket(`${spec.name}-cold`, SOCKETS + 100 + i, uris[i], spec.v2 === true));
    const perSecond = Math.round(COLD_SOCKETS / ((performance.now() - started) / 1000));
    await closeAll(sockets);
    log(`   ${spec.name}: first ${COLD_SOCKETS} connects after start: ${perSecond}/s`);
    return perSecond;
  } finally {
    await stopServer(child);
  }
}

/**
 * Reserves and connects SOCKETS sockets (indexes from `first` on) into `target.sockets`; measures connect rate and the
 * memory and files each socket costs.
 */
async function connectTarget(target, first = 0) {
  await untilQuiet(10_000);
  const idle = serverStats(target.child.pid);
  const reserveStart = performance.now();
  const progressReserve = startProgress(`${target.name}: reserve`, () => '');
  const uris = await pool(SOCKETS, 16, (i) => target.api.reserve(socketId(first + i), hasTag(first + i) ? [TAG] : []));
  progressReserve.stop();
  const reserveSeconds = (performance.now() - reserveStart) / 1000;
  const reserved = serverStats(target.child.pid);

  let open = 0;
  const progressConnect = startProgress(`${target.name}: connect`, () => `${open}/${SOCKETS} open`);
  const connectStart = performance.now();
  const clientBefore = process.cpuUsage();
  const sockets = await pool(SOCKETS, 64, (i) => openSocket(target.name, first + i, uris[i], target.v2), (n) => (open = n));
  target.sockets.push(...sockets);
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  progressConnect.stop();
  const connected = serverStats(target.child.pid);
  await sleep(1000);
  const loaded = serverStats(target.child.pid);
  const perSocket = {
    server: target.name,
    sockets: SOCKETS,
    connectPerSecond: Math.round(SOCKETS / connectSeconds),
    reservePerSecond: target.name === 'floor' ? null : Math.round(SOCKETS / reserveSeconds),
    idleRssMiB: round(idle.rssBytes / 2 ** 20, 1),
    // Split: what the reservations left behind (heap growth from the API calls, SQLite pages) and what the
    // connected sockets hold.
    rssKiBPerSocket: round((loaded.rssBytes - reserved.rssBytes) / 1024 / SOCKETS, 2),
    rssKiBPerReservation: round((reserved.rssBytes - idle.rssBytes) / 1024 / SOCKETS, 2),
    rssKiBPerSocketTotal: round((loaded.rssBytes - idle.rssBytes) / 1024 / SOCKETS, 2),
    fdsPerSocket: round((loaded.fds - idle.fds) / SOCKETS, 2),
    reserveCpuUsPerSocket: round(((reserved.cpuMs - idle.cpuMs) * 1000) / SOCKETS, 1),
    connectCpuUsPerSocket: round(((connected.cpuMs - reserved.cpuMs) * 1000) / SOCKETS, 1),
    connectServerCpuUtilization: round((connected.cpuMs - reserved.cpuMs) / 1000 / connectSeconds, 2),
    connectClientCpuUsPerSocket: round((clientCpu.user + clientCpu.system) / SOCKETS, 1),
    processes: loaded.processes.map(({ pid, comm, rssBytes, fds }) => ({ pid, comm, rssMiB: round(rssBytes / 2 ** 20, 1), fds })),
  };
  log(`   ${target.name}: ${SOCKETS} sockets connected, ${perSocket.connectPerSecond} connects/s, ${perSocket.connectCpuUsPerSocket} µs server CPU each`);
  return perSocket;
}

/**
 * One cycle of connect measurements on a target (see CONNECT_SAMPLES_PER_CYCLE); returns the measured ones. On a
 * target with an `unhooked` tenant (the webhook server), as many measurements of that tenant alternate with the
 * target's own (ABBA, BAAB in the next cycle), so the two differ by the webhook alone: same process, same moment.
 */
async function connectSamples(target, cycle) {
  await closeAll(target.sockets);
  target.sockets = [];
  const unhooked = target.unhooked === undefined ? null : { ...target, name: `${target.name}-unhooked`, api: target.unhooked.api };
  const order = [];
  for (let k = 0; k < CONNECT_SAMPLES_PER_CYCLE; k++) {
    if (unhooked === null) order.push(target);
    else order.push(...((k + cycle) % 2 === 0 ? [target, unhooked] : [unhooked, target]));
  }
  const perCycle = CONNECT_ABSORBING + order.length;
  // Indexes apart from those of the delivery cases, warm-up and cold start (ids and tags follow the same rules).
  const first = (k) => SOCKETS + 100 + COLD_SOCKETS + SOCKETS * (perCycle * cycle + k);
  log(`   ${target.name}: ${CONNECT_ABSORBING} × ${SOCKETS} connects to absorb the teardown of closed sockets (not measured)`);
  for (let k = 0; k < CONNECT_ABSORBING; k++) await connectTarget(target, first(k));
  const samples = [];
  for (const [k, who] of order.entries()) {
    const sample = await connectTarget(who, first(CONNECT_ABSORBING + k));
    if (who === target) samples.push(sample);
    else target.unhooked.samples.push(sample);
  }
  await closeAll(target.sockets);
  target.sockets = [];
  return samples;
}

/**
 * Waits until the whole machine has been quiet for 250 ms (under 5% of a core busy, this process left out; at most
 * `maxMs`), so a measurement does not start while any server of the run still closes the sockets of the step before,
 * delivers that step's webhooks or collects its garbage: on 2 cores that takes CPU from the server measured next.
 */
async function untilQuiet(maxMs) {
  const deadline = performance.now() + maxMs;
  const othersBusyMs = () => {
    const own = process.cpuUsage();
    return machineBusyMs() - (own.user + own.system) / 1000;
  };
  let last = othersBusyMs();
  do {
    await sleep(250);
    const now = othersBusyMs();
    if (now - last < 12.5) return;
    last = now;
  } while (performance.now() < deadline);
}

/** The middle value (the upper one of an even count) of the finite numbers among `values`, or null. */
function upperMedian(values) {
  const sorted = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[sorted.length >> 1];
}

/** Memory and files from the first connect (from idle); rates and CPU are the median of every measurement. */
function aggregateConnects(rounds) {
  const median = (pick) => upperMedian(rounds.map(pick));
  return {
    ...rounds[0],
    connectPerSecond: median((r) => r.connectPerSecond),
    reservePerSecond: median((r) => r.reservePerSecond),
    reserveCpuUsPerSocket: median((r) => r.reserveCpuUsPerSocket),
    connectCpuUsPerSocket: median((r) => r.connectCpuUsPerSocket),
    connectServerCpuUtilization: median((r) => r.connectServerCpuUtilization),
    connectClientCpuUsPerSocket: median((r) => r.connectClientCpuUsPerSocket),
    // Later measurements connect to a server that has already had sockets, so only their rates and CPU are comparable.
    connectRounds: rounds.map((r) => ({
      connectPerSecond: r.connectPerSecond,
      reservePerSecond: r.reservePerSecond,
      reserveCpuUsPerSocket: r.reserveCpuUsPerSocket,
      connectCpuUsPerSocket: r.connectCpuUsPerSocket,
      connectServerCpuUtilization: r.connectServerCpuUtilization,
      connectClientCpuUsPerSocket: r.connectClientCpuUsPerSocket,
    })),
  };
}

/** The median of the rounds for each number that the table shows; lost and duplicated are summed over rounds. */
function aggregate(rounds) {
  const median = (pick) => {
    const values = rounds.map(pick).filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
    if (values.length === 0) return null;
    const mid = values.length >> 1;
    return values.length % 2 === 1 ? values[mid] : round((values[mid - 1] + values[mid]) / 2, 2);
  };
  const first = rounds[0];
  return {
    case: first.case,
    server: first.server,
    target: first.target,
    payloadBytes: first.payloadBytes,
    pushes: first.pushes,
    paced: first.paced,
    rounds: rounds.length,
    deliveriesPerSecond: Math.round(median((r) => r.deliveriesPerSecond) ?? NaN),
    latencyMs: { p50: median((r) => r.latencyMs.p50), p95: median((r) => r.latencyMs.p95), p99: median((r) => r.latencyMs.p99) },
    serverCpuUsPerDelivery: median((r) => r.serverCpuUsPerDelivery),
    clientCpuUsPerDelivery: median((r) => r.clientCpuUsPerDelivery),
    otherCpuCores: median((r) => r.otherCpuCores),
    lost: rounds.reduce((n, r) => n + r.lost, 0),
    duplicated: rounds.reduce((n, r) => n + r.duplicated, 0),
    sentMismatches: rounds.reduce((n, r) => n + r.sentMismatches, 0),
    perRound: rounds,
  };
}

/** Closes with a close handshake, as a client that leaves does (sockets that do not answer in 2 s are cut). */
async function closeAll(sockets) {
  await Promise.all(
    sockets.map((ws) => {
      closedByUs.add(ws);
      if (ws.readyState === WebSocket.CLOSED) return undefined;
      return new Promise((resolve) => {
        const cut = setTimeout(() => ws.terminate(), 2000);
        ws.once('close', () => (clearTimeout(cut), resolve()));
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      });
    }),
  );
  await sleep(100);
}

// ---------------------------------------------------------------- report

function round(n, digits) {
  if (!Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const ratio = (a, b) => (a === null || b === null || b === undefined || !Number.isFinite(a / b) ? null : round(a / b, 2));

function table(header, rows) {
  const cells = [header, ...rows].map((row) => row.map((cell) => (cell === null || cell === undefined ? '–' : String(cell))));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
  return [line(cells[0]), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

function report(results) {
  const byServer = Object.fromEntries(results.map((r) => [r.perSocket.server, r]));
  const ref = (name, pick) => (byServer[name] ? pick(byServer[name]) : null);
  const socketRows = results.map(({ perSocket: p }) => [
    p.server,
    p.connectPerSecond,
    p.reservePerSecond,
    p.rssKiBPerSocket,
    p.rssKiBPerReservation,
    p.fdsPerSocket,
    p.connectCpuUsPerSocket,
    p.idleRssMiB,
    ratio(p.connectPerSecond, ref('floor', (r) => r.perSocket.connectPerSecond)),
    ratio(p.rssKiBPerSocket, ref('floor', (r) => r.perSocket.rssKiBPerSocket)),
    ratio(p.rssKiBPerSocketTotal, ref('floor', (r) => r.perSocket.rssKiBPerSocketTotal)),
    ratio(p.connectPerSecond, ref('ws', (r) => r.perSocket.connectPerSecond)),
  ]);
  const sockets = table(
    ['server', 'connects/s', 'reserves/s', 'RSS KiB/socket', '+RSS KiB/reserve', 'fds/socket', 'CPU µs/connect', 'idle RSS MiB', 'connects ×floor', 'RSS ×floor', 'RSS+reserve ×floor', 'connects ×ws'],
    socketRows,
  );
  const caseRows = [];
  for (const c of CASES) {
    for (const r of results) {
      const row = r.cases.find((x) => x.case === c.name);
      const floorRow = ref('floor', (x) => x.cases.find((y) => y.case === c.name));
      const wsRow = ref('ws', (x) => x.cases.find((y) => y.case === c.name));
      caseRows.push([
        c.name,
        row.server,
        row.deliveriesPerSecond,
        row.latencyMs.p50,
        row.latencyMs.p95,
        row.latencyMs.p99,
        row.serverCpuUsPerDelivery,
        row.lost,
        row.duplicated,
        ratio(row.deliveriesPerSecond, floorRow?.deliveriesPerSecond ?? null),
        ratio(row.latencyMs.p99, floorRow?.latencyMs.p99 ?? null),
        ratio(row.serverCpuUsPerDelivery, floorRow?.serverCpuUsPerDelivery ?? null),
        ratio(row.deliveriesPerSecond, wsRow?.deliveriesPerSecond ?? null),
        ratio(row.serverCpuUsPerDelivery, wsRow?.serverCpuUsPerDelivery ?? null),
      ]);
    }
  }
  const deliveries = table(
    ['case', 'server', 'deliveries/s', 'p50 ms', 'p95 ms', 'p99 ms', 'CPU µs/delivery', 'lost', 'dup', 'deliv/s ×floor', 'p99 ×floor', 'CPU ×floor', 'deliv/s ×ws', 'CPU ×ws'],
    caseRows,
  );
  return { sockets, deliveries };
}

/** The issue's targets, checked on this run's numbers (null when MWS or the floor was not run). */
function checkTargets(results, slow) {
  const mws = results.find((r) => r.perSocket.server === 'mws');
  const floor = results.find((r) => r.perSocket.server === 'floor');
  const slowTargets = slow
    .filter((r) => r.server.startsWith('mws'))
    .flatMap((r) => [
      { target: `${r.server}, clients that stop reading: RSS growth MiB <= 64`, ratio: r.growthMiB, limit: 64, higherIsBetter: false },
      { target: `${r.server}, clients that stop reading: healthy lost + duplicated + out of order + closed = 0`, ratio: r.lost + r.duplicated + r.outOfOrder + r.healthyClosed, limit: 0, higherIsBetter: false },
    ])
    .map((t) => ({ ...t, met: t.higherIsBetter ? t.ratio >= t.limit : t.ratio <= t.limit }));
  if (!mws || !floor) return slowTargets;
  const caseRatio = (name, pick) => ratio(pick(mws.cases.find((c) => c.case === name)), pick(floor.cases.find((c) => c.case === name)));
  const targets = [];
  for (const name of CASES.filter((c) => !c.paced && c.target !== 'id').map((c) => c.name)) {
    targets.push({ target: `${name}: deliveries/s >= 0.9 × floor`, ratio: caseRatio(name, (c) => c.deliveriesPerSecond), limit: 0.9, higherIsBetter: true });
  }
  for (const [server, limit] of [['mws-history', 0.9], ['mws-v2', 0.85]]) {
    const variant = results.find((r) => r.perSocket.server === server);
    if (variant === undefined) continue;
    for (const name of CASES.filter((c) => !c.paced && c.target !== 'id').map((c) => c.name)) {
      const r = ratio(variant.cases.find((c) => c.case === name).deliveriesPerSecond, floor.cases.find((c) => c.case === name).deliveriesPerSecond);
      targets.push({ target: `${server} ${name}: deliveries/s >= ${limit} × floor`, ratio: r, limit, higherIsBetter: true });
    }
    const paced = CASES.find((c) => c.paced).name;
    const p99 = ratio(variant.cases.find((c) => c.case === paced).latencyMs.p99, floor.cases.find((c) => c.case === paced).latencyMs.p99);
    targets.push({ target: `${server} paced p99 <= 1.5 × floor`, ratio: p99, limit: 1.5, higherIsBetter: false });
  }
  targets.push({ target: 'memory per connected socket <= 1.1 × floor', ratio: ratio(mws.perSocket.rssKiBPerSocket, floor.perSocket.rssKiBPerSocket), limit: 1.1, higherIsBetter: false });
  targets.push({ target: 'connect rate >= 0.9 × floor', ratio: ratio(mws.perSocket.connectPerSecond, floor.perSocket.connectPerSecond), limit: 0.9, higherIsBetter: true });
  targets.push({ target: `cold connect rate (first ${COLD_SOCKETS} after start) >= 0.9 × floor`, ratio: ratio(mws.perSocket.coldConnectPerSecond, floor.perSocket.coldConnectPerSecond), limit: 0.9, higherIsBetter: true });
  const hooked = results.find((r) => r.perSocket.server === 'mws-webhook');
  if (hooked?.withAndWithoutWebhook) {
    targets.push({ target: 'connect rate with a webhook >= 0.9 × without (same server, in turns, median of cycles)', ratio: hooked.withAndWithoutWebhook.ratio, limit: 0.9, higherIsBetter: true });
  }
  const paced = CASES.find((c) => c.paced).name;
  targets.push({ target: 'paced p99 <= 1.5 × floor', ratio: caseRatio(paced, (c) => c.latencyMs.p99), limit: 1.5, higherIsBetter: false });
  const allCases = results.flatMap((r) => r.cases);
  targets.push({ target: 'lost and duplicated = 0 (all servers, all cases)', ratio: allCases.reduce((n, c) => n + c.lost + c.duplicated, 0), limit: 0, higherIsBetter: false });
  return [...targets.map((t) => ({ ...t, met: t.ratio !== null && (t.higherIsBetter ? t.ratio >= t.limit : t.ratio <= t.limit) })), ...slowTargets];
}

/**
 * Connects to the webhook server's tenant with a webhook and to its tenant without one, measured in turns in the
 * connect cycles (ABBA, BAAB: CONNECT_SAMPLES_PER_CYCLE of each per cycle). The ratio is the median over cycles of
 * each cycle's ratio (the sum of its rates with ÷ without), the analysis an ABBA design is for: the two tenants of one
 * cycle ran within seconds of each other, so the machine's drift over minutes cancels. The ratio of the overall
 * medians is kept beside it.
 */
function withAndWithout(hookedSamples, unhookedSamples) {
  const hooked = hookedSamples.map((r) => r.connectPerSecond);
  const unhooked = unhookedSamples.map((r) => r.connectPerSecond);
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const perCycle = [];
  for (let i = 0; i + CONNECT_SAMPLES_PER_CYCLE <= Math.min(hooked.length, unhooked.length); i += CONNECT_SAMPLES_PER_CYCLE) {
    perCycle.push(ratio(sum(hooked.slice(i, i + CONNECT_SAMPLES_PER_CYCLE)), sum(unhooked.slice(i, i + CONNECT_SAMPLES_PER_CYCLE))));
  }
  return {
    ratio: upperMedian(perCycle),
    perCycleRatios: perCycle,
    hookedPerSecond: upperMedian(hooked),
    unhookedPerSecond: upperMedian(unhooked),
    ratioOfMedians: ratio(upperMedian(hooked), upperMedian(unhooked)),
    hookedSamples: hooked,
    unhookedSamples: unhooked,
  };
}

/** Throughput cases measured on mws and mws-webhook, where pushes run the same code: the run's own noise. */
function sameCodeRatios(results) {
  const mws = results.find((r) => r.perSocket.server === 'mws');
  const hooked = results.find((r) => r.perSocket.server === 'mws-webhook');
  if (!mws || !hooked) return [];
  return CASES.filter((c) => !c.paced).map((c) => ({
    case: c.name,
    ratio: ratio(hooked.cases.find((x) => x.case === c.name).deliveriesPerSecond, mws.cases.find((x) => x.case === c.name).deliveriesPerSecond),
  }));
}

function machine() {
  const cpus = os.cpus();
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  };
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd: pkg('workerd'),
    miniflare: pkg('miniflare'),
    ws: pkg('ws'),
    loadAverage: os.loadavg().map((n) => round(n, 2)),
  };
}

// ---------------------------------------------------------------- progress

const log = (message) => process.stderr.write(`${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startProgress(label, detail) {
  const tty = process.stderr.isTTY;
  const started = performance.now();
  const show = (end) => {
    const text = `   … ${label} ${detail()} (${((performance.now() - started) / 1000).toFixed(1)} s)`;
    if (tty) process.stderr.write(`\r${text}\x1b[K${end ? '\r\x1b[K' : ''}`);
    else if (!end) log(text);
  };
  const timer = setInterval(() => show(false), tty ? 250 : 5000);
  return { stop: () => (clearInterval(timer), show(true)) };
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  const m = machine();
  log(
    `MWS benchmark: ${SOCKETS} sockets, ${ROUNDS} round(s)${flags.quick ? ', quick' : ''}; ` +
      `${m.cores} × ${m.cpu}, Node ${m.node}, workerd ${m.workerd}; load average ${m.loadAverage.join(' ')}`,
  );
  const targets = [];
  try {
    if (ONLY.has('mws-webhook')) await webhookReceiver.start();
    for (const spec of SERVERS) targets.push(await startTarget(spec));
    const connects = targets.map(() => []);
    for (const [i, target] of targets.entries()) connects[i].push(await connectTarget(target));

    // Rounds interleave the servers case by case (rotating who goes first), so load from elsewhere on the
    // machine hits all of them alike; the table shows each case's median round.
    const rounds = new Map();
    for (let round = 0; round < ROUNDS; round++) {
      log(`\n== round ${round + 1}/${ROUNDS}`);
      for (const c of CASES) {
        for (let k = 0; k < targets.length; k++) {
          const target = targets[(k + round) % targets.length];
          const result = await runCase(target, target.api, c);
          const key = `${c.name}\u0000${target.name}`;
          rounds.set(key, [...(rounds.get(key) ?? []), result]);
          log(
            `   ${c.name} · ${target.name}: ${result.deliveriesPerSecond} deliveries/s, p50/p99 ${result.latencyMs.p50}/${result.latencyMs.p99} ms, ` +
              `${result.serverCpuUsPerDelivery} µs CPU/delivery, lost ${result.lost}, dup ${result.duplicated}` +
              (result.otherCpuCores > 0.2 ? `, other load ${result.otherCpuCores} cores` : ''),
          );
        }
      }
    }
    const massResume = [];
    for (const target of targets.filter((t) => t.v2)) massResume.push(await runMassResume(target));
    log('\n== clients that stop reading');
    const slow = [];
    for (const target of targets) {
      await closeAll(target.sockets);
      const result = await runSlowClientsCase(target, target.api, () => serverStats(target.child.pid).rssBytes / 2 ** 20);
      log(
        `   ${target.name}: RSS +${result.growthMiB} MiB over ${result.baselineMiB} MiB, healthy lost ${result.lost} dup ${result.duplicated}, stuck closed with 4008: ${result.stuckClosedWith4008}` +
          (result.healthyClosed > 0 ? `, healthy closed with ${result.healthyCloseCodes.join(', ')}` : ''),
      );
      slow.push(result);
    }
    // After everything else: see CONNECT_SAMPLES_PER_CYCLE. Cycles interleave the servers (rotating who goes first).
    log('\n== connect rate');
    for (let cycle = 0; cycle < ROUNDS; cycle++) {
      for (let k = 0; k < targets.length; k++) {
        const i = (k + cycle) % targets.length;
        connects[i].push(...(await connectSamples(targets[i], cycle)));
      }
    }
    const results = targets.map((t, i) => ({
      perSocket: { ...aggregateConnects(connects[i]), coldConnectPerSecond: t.coldConnectPerSecond },
      ...(t.unhooked ? { withAndWithoutWebhook: withAndWithout(connects[i].slice(1), t.unhooked.samples) } : {}),
      cases: CASES.map((c) => aggregate(rounds.get(`${c.name}\u0000${t.name}`))),
    }));
    finish(startedAt, m, results, massResume, slow);
  } finally {
    shuttingDown = true;
    for (const target of targets) await closeAll(target.sockets);
    for (const target of targets) await stopServer(target.child);
  }
}

function finish(startedAt, m, results, massResume, slow) {
  const { sockets, deliveries } = report(results);
  const targets = checkTargets(results, slow);
  const resumeTable = table(
    ['case', 'server', 'sockets', 'messages each', 'reconnect s', 'all caught up s', 'replayed/s', 'CPU µs/replayed', 'lost', 'dup'],
    massResume.map((r) => [r.case, r.server, r.sockets, r.messagesPerSocket, r.reconnectSeconds, r.allCaughtUpSeconds, r.replayedPerSecond, r.serverCpuUsPerReplayed, r.lost, r.duplicated]),
  );
  const slowTable = table(
    ['server', 'baseline RSS MiB', 'peak RSS MiB', 'growth MiB', 'healthy lost', 'dup', 'out of order', 'healthy closed', 'stuck closed 4008'],
    slow.map((r) => [r.server, r.baselineMiB, r.peakMiB, r.growthMiB, r.lost, r.duplicated, r.outOfOrder, r.healthyClosed, `${r.stuckClosedWith4008}/10`]),
  );
  const summary = targets.map((t) => `${t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.ratio}`).join('\n');
  const sameCode = sameCodeRatios(results);
  const resolution =
    sameCode.length === 0
      ? ''
      : `\n\nResolution of this run: pushes take the same code in mws and mws-webhook (the webhook only hears connects and closes), so their ratio shows how far two measurements of the same work drift apart here; a target nearer than that to its limit is not settled by this run.\n\n${sameCode.map((r) => `${r.case}: mws-webhook ÷ mws ${r.ratio}`).join('\n')}\n`;
  const otherLoad = results.flatMap((r) => r.cases.map((c) => c.otherCpuCores ?? 0));
  const header =
    `MWS benchmark, ${startedAt.toISOString().slice(0, 10)}, ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, ` +
    `Node ${m.node}, workerd ${m.workerd}, ${SOCKETS} sockets, median of ${ROUNDS} round(s)${flags.quick ? ' (quick)' : ''}, ` +
    `load average at start ${m.loadAverage.join(' ')}, other processes used up to ${Math.max(0, ...otherLoad)} cores during a case`;
  const delays = webhookReceiver.delaysMs;
  const [p50, p99] = percentiles(delays, [50, 99]).map((v) => round(v, 1));
  const pair = results.find((r) => r.withAndWithoutWebhook)?.withAndWithoutWebhook;
  const mwsConnects = results.find((r) => r.perSocket.server === 'mws')?.perSocket.connectPerSecond ?? null;
  const hookedConnects = results.find((r) => r.perSocket.server === 'mws-webhook')?.perSocket.connectPerSecond ?? null;
  const pairLine =
    pair === undefined
      ? ''
      : `Connects on the webhook server, in turns: tenant with a webhook ${pair.hookedPerSecond}/s (${pair.hookedSamples.join(', ')}), ` +
        `tenant without ${pair.unhookedPerSecond}/s (${pair.unhookedSamples.join(', ')}); per cycle ${pair.perCycleRatios.join(', ')}, ` +
        `median ${pair.ratio} (ratio of the medians ${pair.ratioOfMedians}). ` +
        `Across servers (mws-webhook ÷ mws, medians with the first connect): ${ratio(hookedConnects, mwsConnects)}.\n`;
  const webhook = delays.length === 0 ? '' : `\n\nWebhooks: socket open -> socket.connected received, p50 ${p50} ms, p99 ${p99} ms (${delays.length} connects)\n${pairLine}`;
  const resumeSection = massResume.length === 0 ? '' : `\n\nMass resume\n\n${resumeTable}\n`;
  process.stdout.write(`\n${header}\n\nPer socket\n\n${sockets}\n\nDeliveries\n\n${deliveries}${webhook}${resumeSection}\n\nClients that stop reading (10 stuck + 10 healthy, 100 × 512 KiB to their tag)\n\n${slowTable}\n\nTargets (MWS vs floor)\n\n${summary}\n${resolution}`);
  mkdirSync(path.dirname(flags.out), { recursive: true });
  const json = {
    date: startedAt.toISOString(),
    machine: m,
    options: { sockets: SOCKETS, quick: flags.quick, rounds: ROUNDS, cases: CASES },
    servers: results.map((r) => r.perSocket),
    webhookDelayMs: delays.length === 0 ? null : { p50, p99, samples: delays.length },
    connectsWithAndWithoutWebhook: pair ?? null,
    cases: results.flatMap((r) => r.cases),
    massResume,
    slowClients: slow,
    targets,
    sameCodeRatios: sameCode,
    durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1),
  };
  writeFileSync(flags.out, `${JSON.stringify(json, null, 2)}\n`);
  log(`\nwrote ${path.relative(process.cwd(), flags.out)} (${json.durationSeconds} s)`);
  const slowFailed = slow.some((r) => r.server.startsWith('mws') && r.lost + r.duplicated + r.outOfOrder + r.healthyClosed > 0);
  process.exitCode = slowFailed || [...json.cases, ...massResume].some((c) => c.lost > 0 || c.duplicated > 0) ? 1 : 0;
}

main().catch((err) => {
  log(`bench failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
}).finally(() => {
  agent.destroy();
  for (const child of children) killGroup(child, 'SIGKILL');
  // A case cut short leaves its progress timer and sockets behind: a failed run must still end.
  if (process.exitCode === 1) setTimeout(() => process.exit(1), 1000).unref();
});
