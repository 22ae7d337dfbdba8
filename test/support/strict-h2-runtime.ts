import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { encodeHeaderBlock } from '../../src/relay/hpack/encoder.js';
import { CLIENT_PREFACE, FRAME_HEADER_LENGTH, Flag, FrameType, buildFrame, framePayload, goawayFrame, headersFrame, rstStreamFrame, windowUpdateFrame } from '../../src/relay/http2-frames.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

/**
 * A small HTTP/2 peer that stands in for the runtime where containerd cannot
 * be made to: it enforces flow control to the letter (RFC 9113 §6.9) and
 * gives credit back as late as it likes. node:http2 (nghttp2) cannot be made
 * to hold credit back, and grpc-go (containerd) does not check the
 * connection window at all.
 *
 * It reads no headers: each request is known by its body, and every stream
 * is answered grpc-status 0, trailers only, once its request has ended.
 */
export interface StrictRuntimeOptions {
  /** The SETTINGS_INITIAL_WINDOW_SIZE it announces for streams, in force once the client ACKs it. */
  readonly initialWindowSize: number;
  /** No connection credit goes back until `grantCredit()`: every byte the sender sends past the first window is seen. */
  readonly withholdConnectionCredit?: boolean;
}

export interface StrictRuntime {
  /** The body of every request that ended, in order. */
  readonly requests: Buffer[];
  /** Every flow-control violation it saw, as it answered it (GOAWAY or RST_STREAM FLOW_CONTROL_ERROR). */
  readonly violations: string[];
  /** Flow-controlled DATA bytes received, on all connections. */
  readonly receivedBytes: number;
  /** Ends `withholdConnectionCredit`: what was received is credited now, and later credit goes back as usual. */
  grantCredit(): void;
  close(): Promise<void>;
}

const CONNECTION_WINDOW = 65_535;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const TRAILERS_ONLY_OK = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-status', '0'],
]);

interface StreamState {
  window: number;
  unacknowledged: number;
  readonly body: Buffer[];
}

/** What the peer's connections share with the test. */
interface PeerRecord {
  readonly requests: Buffer[];
  readonly violations: string[];
  receivedBytes: number;
  withholding: boolean;
  /** Each connection's way to credit what it withheld. */
  readonly creditWithheld: Set<() => void>;
}

export async function startStrictRuntime(socketPath: string, options: StrictRuntimeOptions): Promise<StrictRuntime> {
  const record: PeerRecord = { requests: [], violations: [], receivedBytes: 0, withholding: options.withholdConnectionCredit === true, creditWithheld: new Set() };
  const connections = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined);
    serveConnection(socket, options, record);
  });
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    requests: record.requests,
    violations: record.violations,
    get receivedBytes() {
      return record.receivedBytes;
    },
    grantCredit: () => {
      record.withholding = false;
      for (const credit of record.creditWithheld) credit();
    },
    close: async () => {
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketPath, { force: true });
    },
  };
}

function serveConnection(socket: Socket, options: StrictRuntimeOptions, record: PeerRecord): void {
  const { requests, violations } = record;
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
  settings.writeUInt32BE(options.initialWindowSize, 2);
  socket.write(buildFrame(FrameType.SETTINGS, 0, 0, settings));

  const streams = new Map<number, StreamState>();
  let initialWindow = CONNECTION_WINDOW;
  let connectionWindow = CONNECTION_WINDOW;
  let connectionUnacknowledged = 0;
  let buffered: Buffer = Buffer.alloc(0);
  let prefaceSeen = false;

  const creditConnection = (): void => {
    if (connectionUnacknowledged === 0 || socket.destroyed) return;
    socket.write(windowUpdateFrame(0, connectionUnacknowledged));
    connectionWindow += connectionUnacknowledged;
    connectionUnacknowledged = 0;
  };
  record.creditWithheld.add(creditConnection);
  socket.on('close', () => record.creditWithheld.delete(creditConnection));
  const violation = (what: string, frame: Buffer): void => {
    violations.push(what);
    socket.write(frame);
  };
  const onData = (streamId: number, flags: number, frame: Buffer): void => {
    const length = frame.length - FRAME_HEADER_LENGTH;
    connectionWindow -= length;
    if (connectionWindow < 0) {
      violation(`the connection window was overrun by ${-connectionWindow} bytes`, goawayFrame(0, Http2ErrorCode.FLOW_CONTROL_ERROR, 'connection window overrun'));
      socket.end();
      return;
    }
    record.receivedBytes += length;
    connectionUnacknowledged += length;
    if (!record.withholding && connectionUnacknowledged >= CONNECTION_WINDOW / 2) creditConnection();
    const stream = streams.get(streamId);
    if (stream === undefined) return;
    stream.window -= length;
    if (stream.window < 0) {
      streams.delete(streamId);
      violation(`stream ${streamId}'s window was overrun by ${-stream.window} bytes`, rstStreamFrame(streamId, Http2ErrorCode.FLOW_CONTROL_ERROR));
      return;
    }
    stream.body.push(Buffer.from(framePayload(frame, FrameType.DATA, flags)));
    if ((flags & Flag.END_STREAM) !== 0) {
      endRequest(streamId, stream);
      return;
    }
    stream.unacknowledged += length;
    if (stream.unacknowledged >= Math.floor(initialWindow / 2)) {
      socket.write(windowUpdateFrame(streamId, stream.unacknowledged));
      stream.window += stream.unacknowledged;
      stream.unacknowledged = 0;
    }
  };
  const endRequest = (streamId: number, stream: StreamState): void => {
    streams.delete(streamId);
    requests.push(Buffer.concat(stream.body));
    socket.write(headersFrame(streamId, TRAILERS_ONLY_OK, true));
  };
  const onFrame = (type: number, flags: number, streamId: number, frame: Buffer): void => {
    switch (type) {
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) === 0) socket.write(buildFrame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0)));
        else {
          // The client has applied our SETTINGS: from now on the new stream window is in force.
          const delta = options.initialWindowSize - initialWindow;
          initialWindow = options.initialWindowSize;
          for (const stream of streams.values()) stream.window += delta;
        }
        return;
      case FrameType.PING:
        if ((flags & Flag.ACK) === 0) socket.write(buildFrame(FrameType.PING, Flag.ACK, 0, frame.subarray(FRAME_HEADER_LENGTH)));
        return;
      case FrameType.HEADERS: {
        const stream: StreamState = { window: initialWindow, unacknowledged: 0, body: [] };
        if ((flags & Flag.END_STREAM) !== 0) endRequest(streamId, stream);
        else streams.set(streamId, stream);
        return;
      }
      case FrameType.DATA:
        onData(streamId, flags, frame);
        return;
      case FrameType.RST_STREAM:
        streams.delete(streamId);
        return;
      default:
    }
  };

  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (!prefaceSeen) {
      if (buffered.length < CLIENT_PREFACE.length) return;
      prefaceSeen = true;
      buffered = buffered.subarray(CLIENT_PREFACE.length);
    }
    let offset = 0;
    while (buffered.length - offset >= FRAME_HEADER_LENGTH) {
      const end = offset + FRAME_HEADER_LENGTH + buffered.readUIntBE(offset, 3);
      if (end > buffered.length) break;
      const frame = buffered.subarray(offset, end);
      onFrame(frame[3], frame[4], frame.readUInt32BE(5) & 0x7fffffff, frame);
      offset = end;
      if (socket.destroyed || socket.writableEnded) return;
    }
    buffered = Buffer.from(buffered.subarray(offset));
  });
}
