import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as connectSocket } from 'node:net';

/** One call as it crossed the wire: headers, the raw DATA bytes and trailers (raw lists keep repeats). */
export interface RawExchange {
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly data: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly rawTrailers: string[] | undefined;
  /** RST_STREAM code when the stream was reset. */
  readonly rstCode: number;
}

/** Frames one gRPC message: flag byte, 4-byte length, payload. */
export function grpcFrame(payload: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

export function openH2(socketPath: string): ClientHttp2Session {
  return connect('http://localhost', { createConnection: () => connectSocket(socketPath) });
}

/** A gRPC call made by hand at the HTTP/2 level, to see exactly what comes back. */
export function rawCall(session: ClientHttp2Session, path: string, body: Buffer, extraHeaders: OutgoingHttpHeaders = {}): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extraHeaders,
    });
    let headers: IncomingHttpHeaders = {};
    let rawHeaders: string[] = [];
    let trailers: IncomingHttpHeaders | undefined;
    let rawTrailers: string[] | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h: IncomingHttpHeaders, _flags: number, raw: string[]) => {
      headers = h;
      rawHeaders = raw;
    });
    stream.on('trailers', (t: IncomingHttpHeaders, _flags: number, raw: string[]) => {
      trailers = t;
      rawTrailers = raw;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ headers, rawHeaders, data: Buffer.concat(chunks), trailers, rawTrailers, rstCode: stream.rstCode ?? 0 }));
    stream.on('aborted', () => undefined);
    session.once('error', reject);
    stream.end(body);
  });
}
