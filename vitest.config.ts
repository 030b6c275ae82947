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
                // A short interval so the keepalive sweep can be observed in seconds, not minutes.
                KEEPALIVE_INTERVAL_SECONDS: '1',
                // Lets tenants use the local key-set server of test/support/jwks-server.ts.
                ALLOW_LOOPBACK_HTTP_JWKS: 'true',
              },
            },
          }),
        ],
        test: { name: 'workers', include: ['test/*.test.ts'], globalSetup: ['test/support/jwks-server.ts'], testTimeout: 20_000 },
      },
      {
        // Runs in Node against a real `wrangler dev`, as a user would.
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        // The client SDK against a real local `ws` server, in Node.
        test: { name: 'sdk', include: ['sdk/test/**/*.test.ts'], environment: 'node', testTimeout: 10_000 },
      },
      {
        // Real Chromium (Debian's /usr/bin/chromium) against a real `wrangler dev`; builds sdk/dist first.
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/browser/support/build-sdk.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
