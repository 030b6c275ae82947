import { ApiError } from './errors';
import { MAX_BODY_BYTES } from './limits';

/**
 * Reads a request body of at most MAX_BODY_BYTES and parses it as JSON.
 * 413 when it is larger; 422 (with the line and column) when it is not JSON.
 */
export async function readJsonBody(request: Request, options: { emptyAs?: unknown } = {}): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw payloadTooLarge();
  // With a declared length the runtime delivers exactly that many bytes, so one native read is safe;
  // a chunked body is counted as it streams.
  const bytes = Number.isFinite(declared) ? new Uint8Array(await request.arrayBuffer()) : await readLimited(request, MAX_BODY_BYTES);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw ApiError.unprocessable([{ reason: 'invalid_encoding', property: null, message: 'Body is not valid UTF-8.' }]);
  }
  if (text.trim() === '') {
    if (options.emptyAs !== undefined) return options.emptyAs;
    throw ApiError.unprocessable([{ reason: 'invalid_json', property: null, message: 'Body is empty; expected a JSON object.' }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ApiError.unprocessable([{ reason: 'invalid_json', property: null, message: describeJsonError(text, err) }]);
  }
}

async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw payloadTooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function payloadTooLarge(): ApiError {
  return new ApiError(413, 'payload_too_large', `Request body exceeds ${MAX_BODY_BYTES} bytes.`);
}

/** "Body is not valid JSON at line 3, column 9: Expected double-quoted property name". */
export function describeJsonError(text: string, err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const position = /position (\d+)/.exec(raw);
  const detail = raw.replace(/\s*in JSON at position \d+.*$/s, '').replace(/,\s*".*$/s, '').trim();
  if (!position) return `Body is not valid JSON: ${detail}.`;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `Body is not valid JSON at line ${line}, column ${column}: ${detail}.`;
}
