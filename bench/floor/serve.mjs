#!/usr/bin/env node
/**
 * Serves the floor Worker (worker.js) on workerd through Miniflare, with the same runtime settings as
 * scripts/serve.mjs (compatibility date from wrangler.toml, SQLite-backed object, no inspector, no dev registry).
 * Usage: node bench/floor/serve.mjs [--port <n>]   prints `floor listening on <url>` once ready.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { unstable_readConfig as readWranglerConfig } from 'wrangler';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const config = readWranglerConfig({ config: path.join(HERE, '..', '..', 'wrangler.toml') });

const mf = new Miniflare({
  ...convertV4MiniflareOptions({
    host: '127.0.0.1',
    port: Number(values.port),
    logRequests: false,
    telemetry: { enabled: false },
    name: 'floor',
    scriptPath: path.join(HERE, 'worker.js'),
    modules: true,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    durableObjects: { FLOOR: { className: 'Floor', useSQLite: true } },
  }),
  enableDevRegistry: false,
});

const stop = async () => {
  await mf.dispose().catch(() => {});
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const url = await mf.ready;
console.log(`floor listening on ${url.origin}`);
