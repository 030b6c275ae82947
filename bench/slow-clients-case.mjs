/**
 * The benchmark's last case: clients that stop reading. 10 healthy clients (they read, and ping after every
 * 256 KiB) and 10 clients that never read their TCP stream share a tag; after the same traffic without the stuck
 * clients (the baseline), 100 pushes of 512 KiB go to the tag. Measured: the server's RSS growth over the baseline,
 * what the healthy clients lost, got twice or out of order, and the close code each stuck client finds once it
 * reads again. MWS closes stuck clients with 4008 (README, "Slow and stuck clients"); the floor and the Node `ws`
 * server have no such budget, which is what the comparison shows.
 */
import { lostAndDuplicated, openHealthyClient, openRawSocket } from './clients.mjs';

export const SLOW_TAG = 'slow';
const CLIENTS = 10;
const PUSHES = 100;
const PAYLOAD = 512 * 1024;

/** `api` is the benchmark's per-server API (reserve, push with a tag); `rssMiB()` reads the server's memory. */
export async function runSlowClientsCase(server, api, rssMiB) {
  const healthy = [];
  for (let i = 0; i < CLIENTS; i++) healthy.push(await openHealthyClient(await api.reserve(`slow-ok-${i}`, [SLOW_TAG])));
  const pad = 'w'.repeat(PAYLOAD);
  for (let i = 0; i < PUSHES; i++) await api.push(`w${pad}`, 'tag', '', SLOW_TAG);
  await settle(healthy, PUSHES);
  const baseline = rssMiB();

  const stuck = [];
  for (let i = 0; i < CLIENTS; i++) stuck.push(await openRawSocket(await api.reserve(`slow-stuck-${i}`, [SLOW_TAG]), { reading: false }));
  const data = 'x'.repeat(PAYLOAD);
  let peak = baseline;
  for (let i = 0; i < PUSHES; i++) {
    await api.push(`${i}|${data}`, 'tag', '', SLOW_TAG);
    peak = Math.max(peak, rssMiB());
  }
  await settle(healthy, 2 * PUSHES);
  peak = Math.max(peak, rssMiB());

  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const client of healthy) {
    const r = lostAndDuplicated(client.messages.slice(PUSHES), PUSHES);
    lost += r.lost;
    duplicated += r.duplicated;
    outOfOrder += r.outOfOrder;
  }
  const closedHealthy = healthy.filter((c) => c.closeCode !== null).length;
  const healthyCloseCodes = healthy.filter((c) => c.closeCode !== null).map((c) => c.closeCode);
  for (const raw of stuck) raw.resume();
  await Promise.all(stuck.map((raw) => raw.until(() => raw.closeFrame !== null || raw.ended, 10_000, 'a close').catch(() => {})));
  const closedStuck = stuck.filter((raw) => raw.closeFrame?.code === 4008).length;
  for (const raw of stuck) raw.destroy();
  for (const client of healthy) client.ws.terminate();
  return {
    server: server.name,
    baselineMiB: round(baseline),
    peakMiB: round(peak),
    growthMiB: round(peak - baseline),
    lost,
    duplicated,
    outOfOrder,
    healthyClosed: closedHealthy,
    healthyCloseCodes,
    stuckClosedWith4008: closedStuck,
  };
}

/** Waits (up to 30 s) until every healthy client has at least `count` messages or is closed. */
async function settle(clients, count) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && clients.some((c) => c.closeCode === null && c.messages.length < count)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const round = (n) => Math.round(n * 10) / 10;
