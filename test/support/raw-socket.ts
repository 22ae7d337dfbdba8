import { connect } from 'node:net';

/** Writes raw bytes to a unix socket; resolves with what came back once the peer closes (or `waitMs` passes). */
export function exchangeRaw(socketPath: string, bytes: Buffer, waitMs = 1000): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = connect(socketPath, () => socket.write(bytes));
    const done = (): void => {
      socket.destroy();
      resolve(Buffer.concat(received));
    };
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('close', done);
    socket.on('error', done);
    setTimeout(done, waitMs);
  });
}
