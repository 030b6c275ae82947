// The same push with @mws/sdk, in TypeScript, plus a walk over every connected socket.
// In a project with the SDK installed (see sdk/README.md), Node 22.18+ runs it as it is: node push-sdk.ts "Hello"
import { MwsBackend, MwsError } from '@mws/sdk/server';

const mws = new MwsBackend({
  baseUrl: process.env.MWS_BASE_URL ?? 'http://127.0.0.1:8787/v1/gateways/demo',
  securityToken: process.env.MWS_SECURITY_TOKEN,
});

try {
  const { id, sent } = await mws.push(process.argv[2] ?? 'Hello World!', { sockets: ['*'] });
  console.log(`message ${id} sent to ${sent} socket(s)`);
  const tags = new Map<string, number>();
  for await (const socket of mws.sockets()) for (const tag of socket.tags) tags.set(tag, (tags.get(tag) ?? 0) + 1);
  console.log('connected sockets per tag:', Object.fromEntries(tags));
} catch (err) {
  if (!(err instanceof MwsError)) throw err;
  console.error(`push failed: ${err.status} ${err.reason}: ${err.message}`);
  process.exitCode = 1;
}
