/**
 * criscope's error classes. Every error names what was wrong and where, so the
 * single place that logs it (or exits on it) has the whole story; one that
 * wraps another keeps it as its `cause`. The protocols' code tables are in
 * wire-codes.ts.
 */

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
    options?: ErrorOptions,
  ) {
    super(`cannot listen on ${path}: ${reason}`, options);
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
    options?: ErrorOptions,
  ) {
    super(`cannot decode ${direction} of ${path}: ${reason}`, options);
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
    options?: ErrorOptions,
  ) {
    super(`${path}: ${reason}`, options);
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
    options?: ErrorOptions,
  ) {
    super(`no answer to ${call} through criscope's ${socket} socket: ${reason}`, options);
  }
}
