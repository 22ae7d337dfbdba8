import { connect, type Socket } from 'node:net';
import { CLIENT_PREFACE } from './http2-frames.js';
import { ReadBuffers } from './read-buffers.js';

/** What happens on criscope's connection to the runtime, as its relay needs to hear it. */
export interface RuntimeConnectionEvents {
  onConnected(): void;
  /**
   * Bytes from the runtime, borrowed: their memory is read into again once
   * `caughtUp()`. False when the client's side is full, and the runtime's socket pauses.
   */
  onData(chunk: Buffer): boolean;
  /** True when nothing passed on from earlier reads still waits to be written. */
  caughtUp(): boolean;
  /** The runtime's socket can take more. */
  onDrain(): void;
  /** The connection is gone: whether it had ever connected, and the socket error that ended it, if any. */
  onClosed(everConnected: boolean, error: string | undefined): void;
}

/**
 * Opens criscope's own connection to the runtime for one client connection,
 * with the HTTP/2 client preface first (the client's went to criscope). Its
 * reads go into reused buffers (ReadBuffers).
 */
export function openRuntimeConnection(socketPath: string, events: RuntimeConnectionEvents): Socket {
  const buffers = new ReadBuffers(() => events.caughtUp());
  const socket = connect({
    path: socketPath,
    // Returning false pauses the socket, as pause() would.
    onread: { buffer: () => buffers.next(), callback: (bytes) => events.onData(buffers.read(bytes)) },
  });
  let everConnected = false;
  let error: string | undefined;
  socket.write(CLIENT_PREFACE);
  socket.on('connect', () => {
    everConnected = true;
    events.onConnected();
  });
  socket.on('drain', () => events.onDrain());
  socket.on('error', (cause: NodeJS.ErrnoException) => {
    error ??= cause.code ?? cause.message;
  });
  socket.on('close', () => events.onClosed(everConnected, error));
  return socket;
}
