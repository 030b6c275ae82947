import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { TestProject } from 'vitest/node';
import './jwks-server-context';

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

/**
 * Vitest globalSetup of the workers project: a real identity provider's key-set endpoint on loopback, in Node, so the
 * Worker's fetches of a tenant's JWKS URL go through workerd's real network stack, failures included.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'local', alg: 'ES256', use: 'sig' }] });
  const answers: Record<string, [number, string]> = {
    '/jwks': [200, jwks],
    '/500': [500, '{"error": "identity provider down"}'],
    '/garbage': [200, '<html>this is not JSON'],
    '/not-a-key-set': [200, '{"hello": "world"}'],
  };
  const server = createServer((request, response) => {
    const [status, body] = answers[request.url ?? ''] ?? [404, 'not found'];
    response.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  const port = await listen(server);
  const closed = createServer();
  const closedPort = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  project.provide('jwksServer', { origin: `http://127.0.0.1:${port}`, closedPort, privateJwk: { ...(await exportJWK(privateKey)), kid: 'local', alg: 'ES256' } });
  return () => new Promise((resolve) => server.close(() => resolve()));
}
