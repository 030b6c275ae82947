// Push a message to every connected socket with plain fetch (Node 20+; no packages).
//   export MWS_BASE_URL=http://127.0.0.1:8787/v1/gateways/demo MWS_SECURITY_TOKEN=mws_...   (npm run quickstart prints this)
//   node examples/push.mjs "Hello World!"
const baseUrl = process.env.MWS_BASE_URL ?? 'http://127.0.0.1:8787/v1/gateways/demo';
const token = process.env.MWS_SECURITY_TOKEN; // a tenant in "none" mode takes pushes without one

const res = await fetch(`${baseUrl}/v1/messages`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify({ data: process.argv[2] ?? 'Hello World!', receivers: { sockets: ['*'], tags: null } }),
});
const body = await res.json();
if (!res.ok) {
  // {"error": {reason, message}}, or 422 {"errors": [{reason, property, message}]}
  console.error(`push failed with ${res.status}:`, JSON.stringify(body));
  process.exit(1);
}
console.log(`message ${body.id} sent to ${body.sent} socket(s)`);
