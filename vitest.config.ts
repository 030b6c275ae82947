import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/** The console's files are Text modules for wrangler (see [[rules]] in wrangler.toml); the same for Vite. */
const consoleAsText = {
  name: 'console-as-text',
  enforce: 'pre' as const,
  transform(code: string, id: string) {
    return /\/public\/console\/[^/]+\.(html|css|js)$/.test(id) ? { code: `export default ${JSON.stringify(code)};`, map: null } : null;
  },
};

// The workers project reads wrangler.toml once per test file, and wrangler logs "Using secrets defined in .dev.vars"
// each time a developer has one. Its warnings and errors still show. (test/support/launcher.ts sets its own level.)
process.env.WRANGLER_LOG ??= 'warn';

export default defineConfig({
  test: {
    projects: [
      {
        // Runs inside workerd, against the Worker and its Durable Objects.
        plugins: [
          consoleAsText,
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token',
                // Tenants by subdomain (<tenant>.example.com), as on a deployment with routes.
                ROOT_DOMAIN: 'example.com',
                // A short interval so the keepalive sweep can be observed in under a second (stale after 0.6 s).
                KEEPALIVE_INTERVAL_SECONDS: '0.3',
                // Lets tenants use the local key-set server of test/support/jwks-server.ts.
                ALLOW_LOOPBACK_HTTP_JWKS: 'true',
              },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/*.test.ts'],
          globalSetup: ['test/support/jwks-server.ts'],
          setupFiles: ['test/workers-setup.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // Runs in Node against a real `wrangler dev` and `npm start` (test/support/launcher.ts), as a user would.
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        // The client SDK against a real local `ws` server, in Node.
        test: { name: 'sdk', include: ['sdk/test/**/*.test.ts'], environment: 'node', testTimeout: 10_000 },
      },
      {
        // Real Chromium against a real `wrangler dev`. support/setup.ts finds the browser (CHROMIUM_PATH, PATH,
        // Playwright's cache; skipped with one line when there is none, an error under CI) and builds sdk/dist.
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/browser/support/setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
