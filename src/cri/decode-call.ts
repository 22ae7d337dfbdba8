import { gunzipSync, inflateSync } from 'node:zlib';
import { DecodeError } from '../errors.js';
import type { CriIdentity } from './method-specs.js';
import type { CriMethod } from './method-table.js';
import { countFieldOccurrences, type FieldCounter } from './wire.js';

/** A gRPC message as it crossed the wire (the frame's payload, possibly compressed). */
export interface WireMessage {
  readonly compressed: boolean;
  readonly payload: Buffer;
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

/** One direction of a call as the relay kept it for decoding. */
export interface KeptMessage {
  /** The first message, when the method table wants it decoded. */
  readonly first: WireMessage | undefined;
  /** The direction's grpc-encoding header. */
  readonly encoding: string | undefined;
  /** A list response's items, counted as they went by uncompressed: the message is then not kept. */
  readonly itemsCounted?: FieldCounter | undefined;
}

/**
 * Reads the identity a call carries from its kept request and first response,
 * and the items of a list response. Only the fields the method table names
 * are decoded.
 */
export function decodeCall(method: CriMethod, request: KeptMessage | undefined, response: KeptMessage | undefined, maxDecompressedBytes: number): DecodedCall {
  const { requestIdentity, responseIdentity, responseItemsField } = method;
  const requestMessage = request?.first;
  const responseMessage = response?.first;
  const itemsCounted = response?.itemsCounted;
  const readsRequest = requestIdentity !== undefined && requestMessage !== undefined;
  const readsResponse =
    (responseIdentity !== undefined && responseMessage !== undefined) || (responseItemsField !== undefined && (responseMessage !== undefined || itemsCounted !== undefined));
  if (!readsRequest && !readsResponse) return NOTHING_DECODED;
  // One object for both directions: merging two with a spread cost more than decoding them.
  const identity: CriIdentity = {};
  let responseItems: number | undefined;
  let error: DecodeError | undefined;
  if (requestIdentity !== undefined && requestMessage !== undefined) {
    try {
      requestIdentity.readInto(decompressed(requestMessage, request?.encoding, maxDecompressedBytes), identity);
    } catch (cause) {
      error = new DecodeError(method.path, 'request', (cause as Error).message, { cause });
    }
  }
  if (readsResponse) {
    try {
      // The response's fields win over the request's, as they did when the two were merged.
      if (responseIdentity !== undefined && responseMessage !== undefined) responseIdentity.readInto(decompressed(responseMessage, response?.encoding, maxDecompressedBytes), identity);
      if (responseItemsField !== undefined) {
        responseItems =
          itemsCounted?.total() ??
          (responseMessage === undefined ? undefined : countFieldOccurrences([decompressed(responseMessage, response?.encoding, maxDecompressedBytes)], responseItemsField));
      }
    } catch (cause) {
      error ??= new DecodeError(method.path, 'response', (cause as Error).message, { cause });
    }
  }
  return { identity, responseItems, error };
}
