/** A last-stream-id no GOAWAY has lowered yet. */
const NO_GOAWAY = 0x7fffffff;

/**
 * Which client streams a connection still relays (RFC 9113 §6.8): the
 * highest stream the client opened, the lowest last-stream-id any GOAWAY to
 * the client has carried (the runtime's, relayed, or criscope's own), and the
 * one criscope's own drain set, above which streams go no further.
 */
export class StreamLimits {
  private lastClientStreamId = 0;
  private clientGoawayLimit = NO_GOAWAY;
  private drainLimit: number | undefined;

  /** True once criscope has sent the client its own GOAWAY. */
  get draining(): boolean {
    return this.drainLimit !== undefined;
  }

  /** A client HEADERS on `streamId`: returns true when it opens a new stream (not trailers on one already open). */
  clientOpened(streamId: number): boolean {
    if (streamId <= this.lastClientStreamId) return false;
    this.lastClientStreamId = streamId;
    return true;
  }

  /** True while frames of `streamId` go on to the runtime (not above criscope's GOAWAY). */
  relays(streamId: number): boolean {
    return this.drainLimit === undefined || streamId <= this.drainLimit;
  }

  /**
   * False for a stream above the last-stream-id of a GOAWAY the client has
   * been sent: the runtime will not process it, and the client retries it
   * elsewhere (§6.8), so it is no call of criscope's to record or answer.
   */
  runtimeMayProcess(streamId: number): boolean {
    return streamId <= this.clientGoawayLimit;
  }

  /** The last-stream-id for a GOAWAY to the client: never above one it has already been sent. */
  lastStreamIdForClient(): number {
    return Math.min(this.lastClientStreamId, this.clientGoawayLimit);
  }

  /** criscope drains: returns the last-stream-id of its GOAWAY, above which nothing is relayed. */
  drain(): number {
    const limit = this.lastStreamIdForClient();
    this.drainLimit = limit;
    this.clientGoawayLimit = limit;
    return limit;
  }

  /**
   * The runtime's GOAWAY, on its way to the client: returns the last-stream-id
   * the client may be told, never above one an earlier GOAWAY carried (§6.8),
   * and later GOAWAYs may not promise more.
   */
  runtimeGoaway(lastStreamId: number): number {
    this.clientGoawayLimit = Math.min(this.clientGoawayLimit, lastStreamId);
    return this.clientGoawayLimit;
  }
}
