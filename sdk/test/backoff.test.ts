import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/backoff.js';
import { isFinalCloseCode } from '../src/close-codes.js';

describe('backoffDelay', () => {
  it('doubles the cap with each attempt until maxDelayMs', () => {
    const almostOne = () => 0.9999;
    const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { baseDelayMs: 100, maxDelayMs: 1000 }, almostOne));
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('scales the cap by the random number (full jitter), down to zero', () => {
    expect(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0)).toBe(0);
    expect(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.5)).toBe(200);
  });

  it('defaults to a 500 ms base and a 30 s cap', () => {
    expect(backoffDelay(1, {}, () => 0.5)).toBe(250);
    expect(backoffDelay(40, {}, () => 0.5)).toBe(15_000);
  });
});

describe('isFinalCloseCode', () => {
  it('treats tenant deleted, removed, replaced and tenant not found as final', () => {
    for (const code of [4000, 4001, 4003, 4404]) {
      expect(isFinalCloseCode(code, true)).toBe(true);
      expect(isFinalCloseCode(code, false)).toBe(true);
    }
  });

  it('treats 4401 as final only without a getUri callback', () => {
    expect(isFinalCloseCode(4401, false)).toBe(true);
    expect(isFinalCloseCode(4401, true)).toBe(false);
  });

  it('lets keepalive timeouts, slow-client closes, send failures and abnormal drops reconnect', () => {
    for (const code of [4002, 4008, 1011, 1006, 1001, 3000]) expect(isFinalCloseCode(code, true)).toBe(false);
  });
});
