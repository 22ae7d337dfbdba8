import { FRAME_HEADER_LENGTH } from './http2-frames.js';

/**
 * The DATA frames of a request held back from the runtime until the gate has
 * judged it. A request larger than the relay will hold lets its head go on
 * and only its last frames wait: the runtime cannot act on a message before
 * its last byte, and the client is never stalled on a flow-control window
 * the runtime cannot refill.
 */
export class HeldRequest {
  private frames: Buffer[] = [];
  /** Flow-controlled bytes held (whole frame payloads, padding included). */
  private bytes = 0;
  /** Part of the request went on before judgement: it can no longer be rewritten. */
  headWentOn = false;
  /** The request's END_STREAM is among the held frames. */
  endStream = false;
  judging = false;
  /** The verdict is applied: what still comes on this stream goes on as it comes. */
  released = false;

  get heldBytes(): number {
    return this.bytes;
  }

  /** Keeps a copy: the frame's socket chunk is reused for what follows it. */
  hold(frame: Buffer, endStream: boolean): void {
    this.frames.push(Buffer.from(frame));
    this.bytes += frame.length - FRAME_HEADER_LENGTH;
    if (endStream) this.endStream = true;
  }

  /** Hands over the held frames and forgets them. */
  take(): Buffer[] {
    const frames = this.frames;
    this.frames = [];
    this.bytes = 0;
    return frames;
  }
}
