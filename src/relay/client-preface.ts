import { CLIENT_PREFACE } from './http2-frames.js';

/** Where a connection's first bytes leave it: the preface still incomplete, wrong, or whole with what followed it. */
export type PrefaceProgress = { readonly kind: 'incomplete' } | { readonly kind: 'not http2' } | { readonly kind: 'complete'; readonly rest: Buffer };

/**
 * Reads the HTTP/2 client preface (RFC 9113 §3.4) from the start of a
 * connection, in whatever chunks it comes, and refuses a client that sends
 * something else as soon as the first byte differs.
 */
export class ClientPrefaceReader {
  private seen: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): PrefaceProgress {
    this.seen = this.seen.length === 0 ? chunk : Buffer.concat([this.seen, chunk]);
    const compared = Math.min(this.seen.length, CLIENT_PREFACE.length);
    if (!this.seen.subarray(0, compared).equals(CLIENT_PREFACE.subarray(0, compared))) return { kind: 'not http2' };
    if (this.seen.length < CLIENT_PREFACE.length) return { kind: 'incomplete' };
    return { kind: 'complete', rest: this.seen.subarray(CLIENT_PREFACE.length) };
  }
}
