/**
 * The code tables of the two protocols criscope speaks: HTTP/2's error codes
 * (RFC 9113 §7) and gRPC's status codes, with the status a gRPC client
 * reports for each reset. criscope's own error classes are in errors.ts.
 */

/** HTTP/2 error codes, in RST_STREAM and GOAWAY frames (RFC 9113 §7). */
export const Http2ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  /** How a client abandons a call. */
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** gRPC status codes criscope itself answers with (it relays every other one untouched). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** "OK", "UNAVAILABLE", …; the number itself for codes outside the standard range. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/** The gRPC status a client reports for a stream reset with each HTTP/2 error code (gRPC's HTTP/2 protocol notes). */
const STATUS_OF_RESET: Readonly<Record<number, GrpcStatusCode>> = {
  [Http2ErrorCode.REFUSED_STREAM]: GrpcStatus.UNAVAILABLE,
  [Http2ErrorCode.CANCEL]: GrpcStatus.CANCELLED,
  [Http2ErrorCode.ENHANCE_YOUR_CALM]: GrpcStatus.RESOURCE_EXHAUSTED,
  [Http2ErrorCode.INADEQUATE_SECURITY]: GrpcStatus.PERMISSION_DENIED,
};

export function grpcStatusOfReset(http2Code: number): GrpcStatusCode {
  return STATUS_OF_RESET[http2Code] ?? GrpcStatus.INTERNAL;
}
