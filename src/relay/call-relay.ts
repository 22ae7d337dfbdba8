import {
  constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
  type ServerStreamResponseOptions,
} from 'node:http2';
import { CallRecord, type CallObserver, type CallTraffic } from '../cri/call-record.js';
import { apiOfService, serviceOfPath, type CriMethod, type MethodTable } from '../cri/method-table.js';
import { GrpcStatus, type GrpcStatusCode } from '../errors.js';
import { GrpcMessageScanner } from './grpc-frames.js';
import { decodeGrpcMessage, encodeGrpcMessage, headersToForward } from './headers.js';
import type { UpstreamRouter } from './upstream.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = constants;

// Node adds a `date` header to responses unless told not to (sendDate is missing from @types/node 20).
const RESPOND_TRAILERS_ONLY = { endStream: true, sendDate: false } as ServerStreamResponseOptions;
const RESPOND_WITH_TRAILERS = { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions;

/** What every call shares: built once by the relay server. */
export interface RelayContext {
  readonly table: MethodTable;
  readonly upstreams: UpstreamRouter;
  readonly observer: CallObserver;
  /** Messages up to this size are kept for decoding; larger ones are only counted. */
  readonly keepMessagesUpTo: number;
}

/** How a relayed call can end early, for the relay server to close it on shutdown. */
export interface ActiveCall {
  readonly serverStreaming: boolean;
  /** Ends the call now with UNAVAILABLE, so the client retries elsewhere or later. */
  abort(reason: string): void;
}

/**
 * Relays one gRPC call between kubelet's stream and a stream to the runtime,
 * at the HTTP/2 level: headers, message bytes and trailers pass as they are,
 * flow control is carried across (a slow reader pauses the other side), and a
 * reset or cancel on either side ends the other.
 */
export class CallRelay implements ActiveCall {
  readonly serverStreaming: boolean;
  private readonly startedAt = Date.now();
  private readonly startedTick = performance.now();
  private readonly method: CriMethod | undefined;
  private readonly path: string;
  private readonly requestScanner: GrpcMessageScanner;
  private readonly responseScanner: GrpcMessageScanner;
  private upstream: ClientHttp2Stream | undefined;
  private responded = false;
  private trailers: OutgoingHttpHeaders | undefined;
  private responseEncoding: string | undefined;
  private grpcStatus: string | undefined;
  private grpcMessage: string | undefined;
  private answeredByCriscope = false;

  constructor(
    private readonly client: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    rawHeaders: readonly string[],
    private readonly context: RelayContext,
    private readonly onDone: (call: CallRelay) => void,
  ) {
    this.path = headers[':path'] ?? '';
    const method = context.table.lookup(this.path);
    this.method = method;
    this.serverStreaming = method?.serverStreaming ?? false;
    const keep = context.keepMessagesUpTo;
    this.requestScanner = new GrpcMessageScanner(method?.requestIdentity !== undefined ? keep : 0);
    const decodesResponse = method !== undefined && !method.serverStreaming && (method.responseIdentity !== undefined || method.responseItemsField !== undefined);
    this.responseScanner = new GrpcMessageScanner(decodesResponse ? keep : 0);

    client.on('close', this.onClientClose);
    client.on('error', ignoreStreamError);
    const api = method?.api ?? apiOfService(serviceOfPath(this.path));
    let upstream: ClientHttp2Stream;
    try {
      upstream = context.upstreams.forApi(api).request(headersToForward(headers, rawHeaders));
    } catch (error) {
      this.answer(GrpcStatus.UNAVAILABLE, `criscope: cannot reach the runtime: ${(error as Error).message}`);
      return;
    }
    this.upstream = upstream;
    client.on('data', this.onRequestData);
    client.on('end', this.onRequestEnd);
    client.on('drain', this.onClientDrain);
    client.on('wantTrailers', this.onWantTrailers);
    upstream.on('response', this.onResponse);
    upstream.on('data', this.onResponseData);
    upstream.on('trailers', this.onTrailers);
    upstream.on('end', this.onResponseEnd);
    upstream.on('drain', this.onUpstreamDrain);
    upstream.on('error', this.onUpstreamError);
    upstream.on('close', this.onUpstreamClose);
  }

  abort(reason: string): void {
    if (!this.responded) {
      this.answer(GrpcStatus.UNAVAILABLE, reason);
    } else if (!this.client.closed) {
      this.trailers = statusTrailers(GrpcStatus.UNAVAILABLE, reason);
      this.answeredByCriscope = true;
      this.grpcStatus = String(GrpcStatus.UNAVAILABLE);
      this.grpcMessage = encodeGrpcMessage(reason);
      this.client.end();
    }
    this.upstream?.close(NGHTTP2_CANCEL);
  }

  private readonly onRequestData = (chunk: Buffer): void => {
    this.requestScanner.push(chunk);
    if (!(this.upstream as ClientHttp2Stream).write(chunk)) this.client.pause();
  };

  private readonly onRequestEnd = (): void => {
    this.upstream?.end();
  };

  private readonly onClientDrain = (): void => {
    this.upstream?.resume();
  };

  private readonly onUpstreamDrain = (): void => {
    this.client.resume();
  };

  private readonly onResponse = (headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void => {
    if (this.client.closed) return;
    this.responded = true;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only: the status travels in the one HEADERS frame.
      this.noteStatus(headers);
      this.client.respond(headersToForward(headers, rawHeaders), RESPOND_TRAILERS_ONLY);
      return;
    }
    this.responseEncoding = headers['grpc-encoding'] as string | undefined;
    this.client.respond(headersToForward(headers, rawHeaders), RESPOND_WITH_TRAILERS);
  };

  private readonly onResponseData = (chunk: Buffer): void => {
    this.responseScanner.push(chunk);
    if (!this.client.closed && !this.client.write(chunk)) this.upstream?.pause();
  };

  private readonly onTrailers = (trailers: IncomingHttpHeaders, _flags: number, rawTrailers: string[]): void => {
    this.noteStatus(trailers);
    this.trailers = headersToForward(trailers, rawTrailers);
  };

  private readonly onResponseEnd = (): void => {
    if (this.responded && !this.client.closed && !this.client.writableEnded) this.client.end();
  };

  private readonly onWantTrailers = (): void => {
    this.client.sendTrailers(this.trailers ?? {});
  };

  private upstreamError: NodeJS.ErrnoException | undefined;

  private readonly onUpstreamError = (error: NodeJS.ErrnoException): void => {
    this.upstreamError = error;
  };

  private readonly onUpstreamClose = (): void => {
    const upstream = this.upstream as ClientHttp2Stream;
    if (this.client.closed) return;
    const peerReset = this.upstreamError?.code === 'ERR_HTTP2_STREAM_ERROR' || (this.upstreamError === undefined && upstream.rstCode !== NGHTTP2_NO_ERROR);
    if (this.upstreamError === undefined && upstream.rstCode === NGHTTP2_NO_ERROR) return;
    if (peerReset) {
      // The runtime reset this stream: the client sees the same reset.
      this.client.close(upstream.rstCode);
      return;
    }
    // The connection to the runtime failed under this call.
    this.abort(`criscope: runtime connection failed: ${this.upstreamError?.message ?? 'closed'}`);
  };

  private readonly onClientClose = (): void => {
    const upstream = this.upstream;
    if (upstream !== undefined && !upstream.closed) upstream.close(NGHTTP2_CANCEL);
    this.onDone(this);
    this.context.observer.onCall(this.record());
  };

  /** Answers the call from criscope itself, trailers-only, when the runtime cannot. */
  private answer(status: GrpcStatusCode, message: string): void {
    if (this.client.closed || this.client.headersSent) return;
    this.responded = true;
    this.answeredByCriscope = true;
    this.grpcStatus = String(status);
    this.grpcMessage = encodeGrpcMessage(message);
    this.client.respond({ ':status': 200, 'content-type': 'application/grpc', ...statusTrailers(status, message) }, RESPOND_TRAILERS_ONLY);
  }

  private noteStatus(headers: IncomingHttpHeaders): void {
    this.grpcStatus = headers['grpc-status'] as string | undefined;
    this.grpcMessage = headers['grpc-message'] as string | undefined;
  }

  private record(): CallRecord {
    const path = this.path;
    const method = this.method;
    const status = this.grpcStatus;
    const message = this.grpcMessage;
    const resetCode = this.client.rstCode;
    const service = method?.service ?? serviceOfPath(path);
    return new CallRecord(
      path,
      method,
      service,
      method?.name ?? path.slice(service.length + 2),
      new Date(this.startedAt),
      (performance.now() - this.startedTick) / 1000,
      status === undefined ? undefined : Number(status),
      message === undefined ? undefined : decodeGrpcMessage(message),
      resetCode === undefined || resetCode === NGHTTP2_NO_ERROR ? undefined : resetCode,
      this.answeredByCriscope,
      traffic(this.requestScanner, this.headers['grpc-encoding'] as string | undefined),
      traffic(this.responseScanner, this.responseEncoding),
    );
  }
}

function traffic(scanner: GrpcMessageScanner, encoding: string | undefined): CallTraffic {
  return { messages: scanner.messages, payloadBytes: scanner.payloadBytes, first: scanner.first, encoding };
}

function statusTrailers(status: GrpcStatusCode, message: string): OutgoingHttpHeaders {
  return { 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message) };
}

/** Stream errors surface again as 'close' with a reset code, where they are handled. */
function ignoreStreamError(): void {}
