import type { JWK } from 'jose';
import type {} from 'vitest';

/** What the workers tests get from `inject('jwksServer')` (started by test/support/jwks-server.ts). */
export interface JwksServer {
  /** `http://127.0.0.1:<port>`: `/jwks` a key set, `/500` an error, `/garbage` not JSON, `/not-a-key-set` JSON without keys. */
  origin: string;
  /** A loopback port nothing listens on. */
  closedPort: number;
  /** The private half of the key at `/jwks` (ES256, kid `local`), to sign tokens with. */
  privateJwk: JWK;
}

declare module 'vitest' {
  export interface ProvidedContext {
    jwksServer: JwksServer;
  }
}
