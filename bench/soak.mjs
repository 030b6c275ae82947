#!/usr/bin/env node
/**
 * `npm run soak`: hostile and faulty clients against `npm start` (scripts/serve.mjs on workerd, loopback only, data
 * in a temporary directory), alongside healthy clients, for a bounded time (180 s of load by default); then it
 * stops the server and prints workerd's RSS over time, the files in the data directory, the 5xx count, and what
 * the healthy clients lost or got twice. Healthy traffic runs alone for 45 s first: the baseline is workerd's RSS
 * then. Exit code 1 when a target is missed: RSS levels off (its peak in the last third of the load at most
 * 16 MiB above its peak before), and with one kind of hostile client alone stays within 64 MiB of the baseline; no
 * 5xx; nothing lost or duplicated; no connect refused because of sockets that never finished closing; no file for a
 * tenant that does not exist.
 *
 *   npm run soak                         180 s of load, every kind of client
 *   npm run soak -- --seconds 30         a shorter run
 *   npm run soak -- --only stuck,spam    healthy clients plus some of: stuck, closing, floods, spam, oversized
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lostAndDuplicated, openHealthyClient, openRawSocket, workerdRssMiB } from './clients.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PHASES = ['stuck', 'closing', 'floods', 'spam', 'oversized'];
const { values: flags } = parseArgs({ options: { seconds: { type: 'string', default: '180' }, only: { type: 'string', default: PHASES.join(',') } }, strict: true });
const ONLY = new Set(flags.only.split(',').filter((p) => p !== '' && p !== 'none'));
for (const phase of ONLY) if (!PHASES.includes(phase)) throw new Error(`--only: unknown phase "${phase}" (${PHASES.join(', ')})`);
const SECONDS = Number(flags.seconds);
if (!(SECONDS >= 10 && SECONDS <= 300)) throw new Error('--seconds must be between 10 and 300');
const RSS_TARGET_MIB = 64;
/** How much the RSS peak may still rise in the last third of the load for it to count as levelled off. */
const LEVEL_OFF_MIB = 16;
const WARMUP_SECONDS = 45;
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const HEAVY = 'h'.repeat(256 * 1024);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message) => process.stderr.write(`${message}\n`);

// ---------------------------------------------------------------- server and HTTP

function startServer(dataDir) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts/serve.mjs'), '--port', '0', '--persist-to', dataDir], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A 10 s keepalive interval so sweeps happen during the soak.
    env: { ...process.env, ADMIN_TOKEN, KEEPALIVE_INTERVAL_SECONDS: '10', WRANGLER_SEND_METRICS: 'false' },
  });
  const warnings = [];
  child.stderr.on('data', (chunk) => warnings.push(...String(chunk).split('\n').filter((l) => l.trim() !== '')));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('npm start did not listen within 120 s')), 120_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /MWS listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], warnings });
      }
    });
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const statuses = new Map();
let serverErrors = 0;

/** One HTTP call; counts every status, 5xx apart. `body` is a string, a Buffer, or a function writing a chunked body. */
function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) serverErrors++;
        let json = null;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode, json });
      });
    });
    req.on('error', (err) => resolve({ status: 0, json: null, error: String(err) }));
    if (typeof body === 'function') body(req);
    else req.end(body);
  });
}

const jsonCall = (method, url, token, value) =>
  request(method, url, { headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: value === undefined ? undefined : JSON.stringify(value) });

// ---------------------------------------------------------------- the run

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mws-soak-'));
  log(`soak: building and starting npm start (data in ${dataDir}) ...`);
  const server = await startServer(dataDir);
  process.on('exit', () => {
    try {
      process.kill(-server.child.pid, 'SIGKILL');
    } catch {
      // already stopped
    }
  });
  const base = server.url;
  const gateway = (tenant) => `${base}/v1/gateways/${tenant}`;
  const wsBase = (tenant) => gateway(tenant).replace(/^http/, 'ws');
  const createTenant = async (name, body) => (await jsonCall('POST', `${base}/admin/tenants`, ADMIN_TOKEN, { name, ...body })).json.securityToken;
  const soakToken = await createTenant('soak', { limits: { pushesPerSecond: 2000, connectsPerSecond: 500, maxSockets: 2000 } });
  await createTenant('open', { accessControl: 'none' });
  const cappedToken = await createTenant('capped', { limits: { maxSockets: 4, pushesPerSecond: 5 } });
  const reserve = async (tenant, token, body) => (await jsonCall('POST', `${gateway(tenant)}/v1/sockets`, token, body)).json.uri;
  const anonymousUri = async () => (await jsonCall('GET', `${gateway('open')}/v1/websocket_uri`)).json.uri;

  // Healthy clients: pingers take every stream, readers that never ping take the light one only.
  const healthy = [];
  for (let i = 0; i < 10; i++) healthy.push({ name: `soak pinger ${i}`, streams: ['H', 'L'], client: await openHealthyClient(await reserve('soak', soakToken, { tags: ['heavy', 'light'] }), { pingEveryMs: 3000 }) });
  for (let i = 0; i < 10; i++) healthy.push({ name: `soak reader ${i}`, streams: ['L'], client: await openHealthyClient(await reserve('soak', soakToken, { tags: ['light'] }), { pingEveryBytes: 0 }) });
  for (let i = 0; i < 3; i++) healthy.push({ name: `open pinger ${i}`, streams: ['O'], client: await openHealthyClient(await anonymousUri(), { pingEveryMs: 3000 }) });

  const pushed = { H: 0, L: 0, O: 0 };
  // Heavy streams at 1 MiB/s: more than a client that does not ping is assumed to read (512 KiB/s).
  const streamOf = { H: ['soak', soakToken, { tags: ['heavy'] }, HEAVY, 250], L: ['soak', soakToken, { tags: ['light'] }, 'l'.repeat(200), 50], O: ['open', null, { sockets: ['*'] }, HEAVY, 250] };
  let running = true;
  const loops = [];
  const every = (ms, task, phase = null) => (phase === null || ONLY.has(phase)) && loops.push((async () => { while (running) { const started = Date.now(); await task(); await sleep(Math.max(0, ms - (Date.now() - started))); } })());

  for (const [stream, [tenant, token, receivers, pad, ms]] of Object.entries(streamOf)) {
    every(ms, async () => {
      const res = await jsonCall('POST', `${gateway(tenant)}/v1/messages`, token, { data: `${stream}${pushed[stream]}|${pad}`, receivers });
      if (res.status === 201) pushed[stream]++;
    });
  }

  // Healthy traffic alone first, so the baseline is the server warmed up under it.
  const samples = [];
  const files = () => countFiles(dataDir);
  // Tenant objects' files: local workerd keeps every Durable Object class's databases in a folder of its own.
  // Tenant objects' databases: local workerd keeps each Durable Object class's in a folder of its own, one
  // `<id>.sqlite` per object (its -wal and -shm files come and go with writes).
  const tenantFiles = () => countFiles(path.join(dataDir, 'do', 'mws-TenantHub'), (name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite');
  const started = Date.now();
  const sample = () => samples.push({ t: Math.round((Date.now() - started) / 1000), rss: workerdRssMiB(server.child.pid), files: files(), tenantFiles: tenantFiles(), errors: serverErrors });
  every(3000, async () => sample());
  await sleep(WARMUP_SECONDS * 1000);
  sample();
  const baseline = samples.at(-1);
  log(`soak: baseline ${baseline.rss.toFixed(1)} MiB after ${WARMUP_SECONDS} s of healthy traffic; hostile clients for ${SECONDS} s`);

  // Non-reading clients: some ping (their pings stall with their stream), each lives 10-40 s and then drops.
  const stuck = [];
  const pingTimers = [];
  every(3000, async () => {
    for (const [label, uri] of [['soak', await reserve('soak', soakToken, { tags: ['heavy'] })], ['open', await anonymousUri()]]) {
      const raw = await openRawSocket(uri, { reading: false }).catch(() => null);
      if (raw === null) continue;
      const entry = { label, raw, pings: stuck.length % 2 === 0 };
      stuck.push(entry);
      if (entry.pings) pingTimers.push(setInterval(() => raw.ping(), 1000));
      if (stuck.length % 4 !== 0) setTimeout(() => raw.destroy(), 10_000 + Math.random() * 30_000);
    }
  }, 'stuck');

  // Clients that never answer the server's close: 4 at a time on a tenant capped at 4, each removed by the backend.
  const neverClosing = [];
  let capRefusals = 0;
  every(3000, async () => {
    for (let i = 0; i < 4; i++) {
      const id = `silent-${neverClosing.length}`;
      const raw = await openRawSocket(await reserve('capped', cappedToken, { id }), { answerClose: false }).catch((err) => (err.status === 503 && capRefusals++, null));
      if (raw === null) continue;
      neverClosing.push(raw);
      await jsonCall('DELETE', `${gateway('capped')}/v1/sockets/${id}`, cappedToken);
    }
  }, 'closing');

  // Floods: pushes past the rate limit, a client that talks, upgrades with bad tokens.
  every(5000, async () => {
    await Promise.all(Array.from({ length: 50 }, () => jsonCall('POST', `${gateway('capped')}/v1/messages`, cappedToken, { data: 'flood', receivers: { sockets: ['*'] } })));
    const talker = await openRawSocket(await anonymousUri()).catch(() => null);
    for (let i = 0; i < 30 && talker !== null; i++) talker.send(`chatter ${i}`);
    setTimeout(() => talker?.destroy(), 2000);
    await Promise.all(Array.from({ length: 50 }, () => openRawSocket(`${wsBase('open')}/?token=${randomBytes(8).toString('hex')}`).then((r) => r.destroy(), () => {})));
  }, 'floods');

  // Storage spam against tenants that do not exist, and against shards a real tenant does not have.
  const filesBefore = files();
  const tenantFilesBefore = tenantFiles();
  every(1000, async () => {
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const name = `nx-${randomBytes(6).toString('hex')}`;
      await jsonCall('GET', `${gateway(name)}/v1/websocket_uri`);
      await jsonCall('POST', `${gateway(name)}/v1/messages`, null, { data: 'x', receivers: { sockets: ['*'] } });
      await openRawSocket(`${wsBase(name)}/?token=${i}~${randomBytes(8).toString('hex')}`).then((r) => r.destroy(), () => {});
      await openRawSocket(`${wsBase('soak')}/?token=${10 + i}~${randomBytes(8).toString('hex')}`).then((r) => r.destroy(), () => {});
    }));
  }, 'spam');

  // Oversized and malformed bodies.
  every(2000, async () => {
    const url = `${gateway('soak')}/v1/messages`;
    const auth = { authorization: `Bearer ${soakToken}`, 'content-type': 'application/json' };
    await request('POST', url, { headers: auth, body: JSON.stringify({ data: 'x'.repeat(2 * 1024 * 1024), receivers: { sockets: ['*'] } }) });
    await request('POST', url, { headers: auth, body: (req) => { for (let i = 0; i < 40; i++) req.write(Buffer.alloc(64 * 1024, 0x20)); req.end(); } });
    await request('POST', url, { headers: auth, body: '['.repeat(100_000) });
  }, 'oversized');

  await sleep(SECONDS * 1000);
  running = false;
  await Promise.all(loops);
  await sleep(3000);
  sample();
  for (const timer of pingTimers) clearInterval(timer);

  // What the stuck clients were told, once they read again.
  const alive = stuck.filter((s) => !s.raw.ended);
  for (const s of alive) s.raw.resume();
  await Promise.all(alive.map((s) => s.raw.until(() => s.raw.closeFrame !== null || s.raw.ended, 15_000, 'a close').catch(() => {})));
  const stuckCodes = countBy(alive.map((s) => s.raw.closeFrame?.code ?? 'none'));

  const report = healthy.map((h) => {
    const result = h.streams.map((stream) => lostAndDuplicated(h.client.messages, pushed[stream], stream));
    return { name: h.name, closeCode: h.client.closeCode, lost: sum(result, 'lost'), duplicated: sum(result, 'duplicated'), outOfOrder: sum(result, 'outOfOrder') };
  });
  const lost = sum(report, 'lost');
  const duplicated = sum(report, 'duplicated');
  const outOfOrder = sum(report, 'outOfOrder');
  const peak = Math.max(...samples.filter((s) => s.t >= baseline.t).map((s) => s.rss));
  const newTenantFiles = samples.at(-1).tenantFiles - tenantFilesBefore;
  const lateFrom = baseline.t + (SECONDS * 2) / 3;
  const loaded = samples.filter((s) => s.t >= baseline.t);
  const earlyPeak = Math.max(...loaded.filter((s) => s.t < lateFrom).map((s) => s.rss));
  const latePeak = Math.max(...loaded.filter((s) => s.t >= lateFrom).map((s) => s.rss));
  const levelsOff = latePeak - earlyPeak <= LEVEL_OFF_MIB;
  const withinTarget = ONLY.size !== 1 || peak - baseline.rss <= RSS_TARGET_MIB;
  const closedHealthy = report.filter((r) => r.closeCode !== null);

  for (const s of stuck) s.raw.destroy();
  for (const raw of neverClosing) raw.destroy();
  for (const h of healthy) h.client.ws.terminate();
  await stopServer(server.child);
  agent.destroy();
  rmSync(dataDir, { recursive: true, force: true });

  const lines = [
    `MWS soak, ${new Date().toISOString().slice(0, 10)}, ${SECONDS} s of load, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    '',
    `  t (s)  workerd RSS (MiB)  files in data dir  5xx    (healthy clients only until ${baseline.t} s, then hostile ones too until ${baseline.t + SECONDS} s)`,
    ...samples.map((s) => `  ${String(s.t).padStart(5)}  ${s.rss.toFixed(1).padStart(17)}  ${String(s.files).padStart(17)}  ${String(s.errors).padStart(3)}`),
    '',
    `healthy clients: ${healthy.length} (${healthy.filter((h) => h.streams.includes('H') || h.streams.includes('O')).length} pinging, 256 KiB pushes at up to 4/s; 10 never pinging, 200 B pushes at up to 20/s)`,
    `  pushes answered 201: heavy ${pushed.H}, light ${pushed.L}, open ${pushed.O}`,
    `  lost ${lost}, duplicated ${duplicated}, out of order ${outOfOrder}, closed by the server ${closedHealthy.length}${closedHealthy.length ? ` (${closedHealthy.map((r) => `${r.name}: ${r.closeCode}`).join(', ')})` : ''}`,
    `non-reading clients: ${stuck.length} opened (half pinging), ${alive.length} still connected at the end; close codes they then read: ${JSON.stringify(stuckCodes)} (none: not over budget yet)`,
    `clients that never answer a close: ${neverClosing.length} removed by the backend; connects refused with 503 on their tenant (maxSockets 4): ${capRefusals}`,
    `files in the data directory: ${filesBefore} before the storage spam, ${samples.at(-1).files} after (${samples.at(-1).files - filesBefore} new; tenant objects' databases ${tenantFilesBefore} before, ${samples.at(-1).tenantFiles} after; the rest are the tenant directory's parts, made once)`,
    `HTTP statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`,
    `server warnings: ${server.warnings.length}${server.warnings.length ? ` (first: ${server.warnings[0].slice(0, 160)})` : ''}`,
    '',
    'targets',
    `  ${levelsOff ? 'met   ' : 'MISSED'}  workerd RSS levels off: peak ${latePeak.toFixed(1)} MiB in the last third of the load, ${earlyPeak.toFixed(1)} MiB before (+${(latePeak - earlyPeak).toFixed(1)}, at most +${LEVEL_OFF_MIB}); peak +${(peak - baseline.rss).toFixed(1)} MiB over the ${baseline.rss.toFixed(1)} MiB baseline`,
    ...(ONLY.size === 1 ? [`  ${withinTarget ? 'met   ' : 'MISSED'}  one kind alone (${[...ONLY][0]}): RSS peak within ${RSS_TARGET_MIB} MiB of the baseline (+${(peak - baseline.rss).toFixed(1)})`] : []),
    `  ${serverErrors === 0 ? 'met   ' : 'MISSED'}  5xx: ${serverErrors}`,
    `  ${lost + duplicated + outOfOrder + closedHealthy.length === 0 ? 'met   ' : 'MISSED'}  healthy clients: ${lost} lost, ${duplicated} duplicated, ${outOfOrder} out of order, ${closedHealthy.length} closed`,
    `  ${capRefusals === 0 ? 'met   ' : 'MISSED'}  sockets that never finish closing hold no maxSockets slot: ${capRefusals} refusals`,
    `  ${newTenantFiles === 0 ? 'met   ' : 'MISSED'}  no files for tenants that do not exist: ${newTenantFiles} new tenant-object databases`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const missed = !levelsOff || !withinTarget || serverErrors > 0 || lost + duplicated + outOfOrder + closedHealthy.length > 0 || capRefusals > 0 || newTenantFiles > 0;
  process.exitCode = missed ? 1 : 0;
}

function countFiles(dir, include = () => true) {
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0; // removed while we looked
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    n += entry.isDirectory() ? countFiles(full, include) : entry.isFile() && include(entry.name) ? 1 : 0;
  }
  return n;
}

const sum = (rows, key) => rows.reduce((n, r) => n + r[key], 0);
const countBy = (values) => values.reduce((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {});

async function stopServer(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}

main().catch((err) => {
  log(`soak failed: ${err?.stack ?? err}`);
  process.exit(1);
});
