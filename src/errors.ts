/**
 * criscope's error types. Every error names what was wrong and where, so the
 * single place that logs it (or exits on it) has the whole story.
 */

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

/** HTTP/2's CANCEL error code: how a client abandons a call. */
export const RST_CANCEL = 0x8;

/** The gRPC status a client reports for a stream reset with each HTTP/2 error code (gRPC's HTTP/2 protocol notes). */
const STATUS_OF_RESET: Readonly<Record<number, GrpcStatusCode>> = {
  0x7: GrpcStatus.UNAVAILABLE, // REFUSED_STREAM
  [RST_CANCEL]: GrpcStatus.CANCELLED,
  0xb: GrpcStatus.RESOURCE_EXHAUSTED, // ENHANCE_YOUR_CALM
  0xc: GrpcStatus.PERMISSION_DENIED, // INADEQUATE_SECURITY
};

export function grpcStatusOfReset(http2Code: number): GrpcStatusCode {
  return STATUS_OF_RESET[http2Code] ?? GrpcStatus.INTERNAL;
}

export class CriscopeError extends Error {
  override readonly name: string = 'CriscopeError';
}

/** A config file or flag that cannot be used: `source` is the file or `--flag`, `field` the dotted path. */
export class ConfigError extends CriscopeError {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: readonly { field: string; reason: string }[],
  ) {
    super(`invalid config in ${source}: ${issues.map((i) => `${i.field || '(root)'}: ${i.reason}`).join('; ')}`);
  }
}

/** A policy file that cannot be used: at start criscope refuses to run; on reload the old policy stays in force. */
export class PolicyFileError extends CriscopeError {
  override readonly name = 'PolicyFileError';
  constructor(
    readonly path: string,
    readonly issues: readonly { field: string; reason: string }[],
  ) {
    super(`invalid policy in ${path}: ${issues.map((i) => `${i.field || '(root)'}: ${i.reason}`).join('; ')}`);
  }
}

/** The listen socket cannot be taken (another criscope is serving it, or the path is not a socket). */
export class ListenError extends CriscopeError {
  override readonly name = 'ListenError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot listen on ${path}: ${reason}`);
  }
}

/** No runtime endpoint was given and none of the well-known sockets answers. */
export class RuntimeDiscoveryError extends CriscopeError {
  override readonly name = 'RuntimeDiscoveryError';
  constructor(readonly tried: readonly string[]) {
    super(`no runtime endpoint given and none of the known sockets answers: ${tried.join(', ')}`);
  }
}

/** A CRI message that could not be decoded for the call record (forwarding is never affected). */
export class DecodeError extends CriscopeError {
  override readonly name = 'DecodeError';
  constructor(
    readonly path: string,
    readonly direction: 'request' | 'response',
    reason: string,
  ) {
    super(`cannot decode ${direction} of ${path}: ${reason}`);
  }
}

/**
 * `criscope install` or `uninstall` refused or failed at a file of the node: `path` is the
 * file as the node knows it (without --root), `reason` what was wrong with it. Nothing
 * after the refusal is written.
 */
export class InstallError extends CriscopeError {
  override readonly name = 'InstallError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** A systemctl command install or uninstall ran that failed: `command` as it was run. */
export class SystemctlError extends CriscopeError {
  override readonly name = 'SystemctlError';
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`${command} failed: ${reason}`);
  }
}

/**
 * A call install makes through one of criscope's sockets, to see that criscope serves it
 * and reaches the runtime behind it, that did not answer in time: `socket` says which
 * (the runtime socket or the image one), `call` names the call as a sentence would
 * ("a CRI Version call"), `reason` is the last error.
 */
export class NotAnsweringError extends CriscopeError {
  override readonly name = 'NotAnsweringError';
  constructor(
    readonly socket: 'runtime' | 'image',
    readonly call: string,
    readonly reason: string,
  ) {
    super(`no answer to ${call} through criscope's ${socket} socket: ${reason}`);
  }
}
