#!/usr/bin/env node
/**
 * Serves the floor Worker (worker.js) on workerd through Miniflare, with the same runtime settings as
 * scripts/serve.mjs (compatibility date from wrangler.toml, SQLite-backed object, no inspector, no dev registry, the
 * Worker on a socket of its own).
 * Usage: node bench/floor/serve.mjs [--port <n>]   prints `floor listening on <url>` once ready.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { unstable_readConfig as readWranglerConfig } from 'wrangler';
import { FRONT_PLUGIN } from '../../scripts/serve-front.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const config = readWranglerConfig({ config: path.join(HERE, '..', '..', 'wrangler.toml') });

/** A free loopback port (the socket that serves the floor needs one before workerd starts). */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const port = Number(values.port) || (await freePort());

// Served as `npm start` serves MWS: clients reach the Worker on a socket of its own, with no Miniflare entry Worker
// in between (scripts/serve-front.mjs), so both pay the same hops.
const mf = new Miniflare({
  ...convertV4MiniflareOptions({
    host: '127.0.0.1',
    port: 0,
    logRequests: false,
    telemetry: { enabled: false },
    name: 'floor',
    scriptPath: path.join(HERE, 'worker.js'),
    modules: true,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    durableObjects: { FLOOR: { className: 'Floor', useSQLite: true } },
    unsafeBindings: [
      {
        name: 'MWS_FRONT',
        type: FRONT_PLUGIN,
        plugin: { package: fileURLToPath(new URL('../../scripts/serve-front.mjs', import.meta.url)), name: FRONT_PLUGIN },
        options: { address: `127.0.0.1:${port}` },
      },
    ],
  }),
  enableDevRegistry: false,
});

const stop = async () => {
  await mf.dispose().catch(() => {});
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

await mf.ready;
console.log(`floor listening on http://127.0.0.1:${port}`);
