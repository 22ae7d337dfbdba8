import { gunzipSync, inflateSync } from 'node:zlib';
import { DecodeError } from '../errors.js';
import type { CriIdentity } from './method-specs.js';
import type { CriMethod } from './method-table.js';
import { countFieldOccurrences } from './wire.js';

/** A gRPC message as it crossed the wire (the frame's payload, possibly compressed). */
export interface WireMessage {
  readonly compressed: boolean;
  /** The payload in one buffer. */
  readonly payload: Buffer;
  /** The payload in the pieces it arrived in, for readers that need no single buffer. */
  readonly pieces: readonly Buffer[];
}

export interface DecodedCall {
  readonly identity: CriIdentity;
  /** The length of a list response's repeated field. */
  readonly responseItems: number | undefined;
  /** The first failure, if any part could not be decoded; what could be decoded is still returned. */
  readonly error: DecodeError | undefined;
}

/** What a call with nothing to decode carries: one shared, frozen result. */
export const NOTHING_DECODED: DecodedCall = Object.freeze({ identity: Object.freeze({}), responseItems: undefined, error: undefined });

/** Decompressed, but never past the size criscope keeps: a compression bomb becomes a decode error. */
export function decompressed(message: WireMessage, encoding: string | undefined, maxBytes: number): Buffer {
  if (!message.compressed) return message.payload;
  switch (encoding) {
    case 'gzip':
      return gunzipSync(message.payload, { maxOutputLength: maxBytes });
    case 'deflate':
      return inflateSync(message.payload, { maxOutputLength: maxBytes });
    default:
      throw new Error(`compressed with unsupported grpc-encoding "${encoding ?? '(none)'}"`);
  }
}

/**
 * Reads the identity a call carries from its kept request and first response.
 * Only the fields the method table names are decoded.
 */
export function decodeCall(
  method: CriMethod,
  request: WireMessage | undefined,
  requestEncoding: string | undefined,
  response: WireMessage | undefined,
  responseEncoding: string | undefined,
  maxDecompressedBytes: number,
): DecodedCall {
  const readsRequest = request !== undefined && method.requestIdentity !== undefined;
  const readsResponse = response !== undefined && (method.responseIdentity !== undefined || method.responseItemsField !== undefined);
  if (!readsRequest && !readsResponse) return NOTHING_DECODED;
  // One object for both directions: merging two with a spread cost more than decoding them.
  const identity: CriIdentity = {};
  let responseItems: number | undefined;
  let error: DecodeError | undefined;
  if (request !== undefined && method.requestIdentity !== undefined) {
    try {
      method.requestIdentity.readInto(decompressed(request, requestEncoding, maxDecompressedBytes), identity);
    } catch (cause) {
      error = new DecodeError(method.path, 'request', (cause as Error).message, { cause });
    }
  }
  if (response !== undefined && (method.responseIdentity !== undefined || method.responseItemsField !== undefined)) {
    try {
      // The response's fields win over the request's, as they did when the two were merged.
      if (method.responseIdentity !== undefined) method.responseIdentity.readInto(decompressed(response, responseEncoding, maxDecompressedBytes), identity);
      if (method.responseItemsField !== undefined) {
        const pieces = response.compressed ? [decompressed(response, responseEncoding, maxDecompressedBytes)] : response.pieces;
        responseItems = countFieldOccurrences(pieces, method.responseItemsField);
      }
    } catch (cause) {
      error ??= new DecodeError(method.path, 'response', (cause as Error).message, { cause });
    }
  }
  return { identity, responseItems, error };
}
