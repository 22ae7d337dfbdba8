import type { SessionOptions } from 'node:http2';

export interface RelayLimits {
  /** The largest gRPC message criscope expects either way (kubelet's default is 16 MiB). */
  readonly maxMessageBytes: number;
  /** Flow-control window of a whole connection, so one large message never stalls the others. */
  readonly connectionWindowBytes: number;
}

export function relayLimits(maxMessageBytes: number): RelayLimits {
  return { maxMessageBytes, connectionWindowBytes: 2 * maxMessageBytes };
}

/**
 * HTTP/2 settings for both sides of the relay. Wide stream windows spare a
 * WINDOW_UPDATE round trip on most calls; the session memory budget must hold
 * several maximum-size messages in flight, or nghttp2 refuses new streams.
 */
export function http2SessionOptions(limits: RelayLimits): SessionOptions {
  return {
    maxSessionMemory: Math.ceil((4 * limits.maxMessageBytes) / (1024 * 1024)),
    settings: {
      initialWindowSize: Math.min(limits.maxMessageBytes, 2 ** 31 - 1),
      enablePush: false,
    },
  };
}
