import { rm } from 'node:fs/promises';
import { createServer, sensitiveHeaders, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream, type ServerStreamResponseOptions, type Settings } from 'node:http2';

/**
 * A bare HTTP/2 gRPC peer that reports exactly what reached it and answers
 * with whatever headers and trailers a test scripts. It stands in for the
 * runtime only where containerd cannot show what it received (metadata) or
 * cannot be made to answer a given way (repeated and -bin trailers, huge echoes).
 */
export interface EchoRequest {
  readonly rawHeaders: string[];
  /** Names of the fields that arrived as "literal never indexed" (RFC 7541 §6.2.3), as node:http2 reports them. */
  readonly neverIndexed: readonly string[];
  readonly body: Buffer;
}

export interface EchoAnswer {
  readonly headers?: OutgoingHttpHeaders;
  /** Omitted: trailers-only answer carrying `headers` alone. */
  readonly trailers?: OutgoingHttpHeaders;
  /** What to send as DATA; defaults to the request body (an echo). */
  readonly body?: Buffer;
  /** Send the body in pieces of this many bytes, one per timer tick, so the relay reads it in many small reads. */
  readonly trickleBytes?: number;
  /** Reset the stream with this HTTP/2 error code instead of answering. */
  readonly reset?: number;
}

export interface EchoServer {
  readonly requests: EchoRequest[];
  answer: (request: EchoRequest) => EchoAnswer;
  close(): Promise<void>;
}

/** `settings`: SETTINGS the peer sends besides its large initial window. */
export async function startEchoServer(socketPath: string, settings: Settings = {}): Promise<EchoServer> {
  const requests: EchoRequest[] = [];
  const sessions = new Set<ServerHttp2Session>();
  const server: Http2Server = createServer({ maxSessionMemory: 256, settings: { initialWindowSize: 16 * 1024 * 1024, ...settings } });
  const echo: EchoServer = {
    requests,
    answer: () => ({ headers: { ':status': 200, 'content-type': 'application/grpc' }, trailers: { 'grpc-status': '0' } }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A session node:http2 ended with a connection error (GOAWAY sent) can stay open; it would hold close() up.
      for (const session of sessions) session.destroy();
      await closed;
      await rm(socketPath, { force: true });
    },
  };
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const neverIndexed = (headers as IncomingHttpHeaders & { [sensitiveHeaders]?: string[] })[sensitiveHeaders] ?? [];
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      const request = { rawHeaders, neverIndexed, body: Buffer.concat(chunks) };
      requests.push(request);
      // A stream the client reset (criscope refusing a held request) ends too, but can no longer be answered.
      if (stream.destroyed) return;
      const answer = echo.answer(request);
      if (answer.reset !== undefined) {
        stream.close(answer.reset);
        return;
      }
      const headers = { ':status': 200, 'content-type': 'application/grpc', ...answer.headers };
      if (answer.trailers === undefined) {
        stream.respond(headers, { endStream: true, sendDate: false } as ServerStreamResponseOptions);
        return;
      }
      stream.respond(headers, { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions);
      stream.on('wantTrailers', () => stream.sendTrailers(answer.trailers ?? {}));
      const body = answer.body ?? request.body;
      if (answer.trickleBytes === undefined) stream.end(body);
      else trickle(stream, body, answer.trickleBytes);
    });
  });
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('sessionError', () => undefined);
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return echo;
}

function trickle(stream: ServerHttp2Stream, body: Buffer, pieceBytes: number, from = 0): void {
  if (stream.destroyed) return;
  if (from + pieceBytes >= body.length) {
    stream.end(body.subarray(from));
    return;
  }
  stream.write(body.subarray(from, from + pieceBytes));
  setTimeout(() => trickle(stream, body, pieceBytes, from + pieceBytes), 0);
}
