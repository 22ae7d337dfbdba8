import { GrpcStatus, type DecodeError } from '../errors.js';
import { decodeCall, type DecodedCall, type WireMessage } from './decode-call.js';
import type { CriIdentity } from './method-specs.js';
import type { CriMethod } from './method-table.js';

/** The two directions of a call, as the relay saw them. */
export interface CallTraffic {
  readonly messages: number;
  readonly payloadBytes: number;
  /** The first message, kept when the method table wants to decode it. */
  readonly first: WireMessage | undefined;
  /** The grpc-encoding header of this direction. */
  readonly encoding: string | undefined;
}

/**
 * A span started while its call was in flight, because the client sent a
 * trace context that criscope re-parented; whoever observes the record ends it.
 */
export interface CallSpan {
  /** The W3C traceparent that names this span as the runtime's parent. */
  readonly traceparent: string;
  end(record: CallRecord): void;
}

/** The gRPC status a client reports for a stream reset with each HTTP/2 error code (gRPC's HTTP/2 protocol notes). */
const STATUS_OF_RESET: Readonly<Record<number, number>> = {
  0x7: GrpcStatus.UNAVAILABLE, // REFUSED_STREAM
  0x8: GrpcStatus.CANCELLED, // CANCEL
  0xb: GrpcStatus.RESOURCE_EXHAUSTED, // ENHANCE_YOUR_CALM
  0xc: GrpcStatus.PERMISSION_DENIED, // INADEQUATE_SECURITY
};

/**
 * One relayed call, typed. Identity is decoded on first read, so a call that
 * no observer looks into costs no decoding at all.
 */
export class CallRecord {
  private decoded: DecodedCall | undefined;

  constructor(
    /** The HTTP/2 :path as the client sent it. */
    readonly path: string,
    /** Undefined for a method our proto does not describe (other API versions, newer RPCs). */
    readonly method: CriMethod | undefined,
    /** "runtime.v1.RuntimeService", also for methods the proto does not describe. */
    readonly service: string,
    /** The method name, also for methods the proto does not describe. */
    readonly methodName: string,
    readonly startedAt: Date,
    /** performance.now() when the request headers arrived: the span's precise start. */
    readonly startTick: number,
    readonly durationSeconds: number,
    /** The grpc-status the client received; undefined when the stream was reset instead. */
    readonly grpcStatus: number | undefined,
    readonly grpcMessage: string | undefined,
    /** The HTTP/2 RST_STREAM code when either side reset the stream. */
    readonly resetCode: number | undefined,
    /** True when the status was made by criscope rather than relayed from the runtime. */
    readonly answeredByCriscope: boolean,
    readonly request: CallTraffic,
    readonly response: CallTraffic,
    /** A compressed message that inflates past this is not decoded. */
    private readonly maxDecodedBytes: number,
    readonly span: CallSpan | undefined,
  ) {}

  /** The gRPC status the client ended up with: the one relayed, or the one a reset stands for. */
  get code(): number {
    if (this.grpcStatus !== undefined) return this.grpcStatus;
    if (this.resetCode !== undefined) return STATUS_OF_RESET[this.resetCode] ?? GrpcStatus.INTERNAL;
    return GrpcStatus.UNKNOWN;
  }

  get endTick(): number {
    return this.startTick + this.durationSeconds * 1000;
  }

  get identity(): CriIdentity {
    return this.decode().identity;
  }

  /** The number of items in a list response. */
  get responseItems(): number | undefined {
    return this.decode().responseItems;
  }

  get decodeError(): DecodeError | undefined {
    return this.decode().error;
  }

  private decode(): DecodedCall {
    if (this.decoded !== undefined) return this.decoded;
    this.decoded =
      this.method === undefined
        ? { identity: {}, responseItems: undefined, error: undefined }
        : decodeCall(this.method, this.request.first, this.request.encoding, this.response.first, this.response.encoding, this.maxDecodedBytes);
    return this.decoded;
  }
}

/** Anything that wants to see finished calls: the log, metrics, spans. */
export interface CallObserver {
  onCall(record: CallRecord): void;
}

/** Hands each finished call to several observers, in order. */
export class CallObservers implements CallObserver {
  constructor(private readonly observers: readonly CallObserver[]) {}

  onCall(record: CallRecord): void {
    for (const observer of this.observers) observer.onCall(record);
  }
}
