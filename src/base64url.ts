/** base64url without padding (RFC 4648 §5), as JWTs, cursors and tokens use it. */

export function encodeBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The bytes of a base64url text; throws on text that is not base64url. */
export function decodeBase64url(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}

/** A base64url text holding UTF-8 JSON, parsed; throws when it is not. */
export function decodeBase64urlJson(text: string): unknown {
  return JSON.parse(new TextDecoder().decode(decodeBase64url(text)));
}
