/**
 * Flow-control accounting for the request direction (client → runtime) of
 * one relayed connection (RFC 9113 §5.2, §6.9).
 *
 * Most streams pass straight through: their DATA goes on as it comes, so the
 * credit the runtime grants reaches the client unchanged and both agree on
 * every window. Streams criscope holds or rewrites (policy) are *owned*: for
 * them criscope is the receiver toward the client and the sender toward the
 * runtime. It credits the client for what it has taken in, and spends the
 * runtime's credit for what it sends, waiting when an edited message does not
 * fit.
 *
 * The connection window is shared by both kinds. criscope gives the client
 * connection credit only for what the runtime's covers:
 *
 *     clientWindow + pending + queued <= runtimeWindow
 *
 * where `pending` is what criscope has taken in on owned streams and still has
 * to send (at the size it will send it), and `queued` is pass-through DATA
 * waiting for runtime credit. Runtime credit goes first to what criscope
 * holds; only the rest reaches the client. A rewrite that lengthens a message
 * spends runtime credit the client also holds: the sum is then broken for a
 * while, the client gets no credit until the runtime's has caught up, and
 * pass-through DATA that finds the runtime's window short waits (whole, in
 * order) instead of overrunning it. Without rewrites nothing ever waits.
 */

/** Every window's size before SETTINGS or WINDOW_UPDATE change it (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
/** The largest a window may grow (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fff_ffff;

/** An owned stream's two stream-level windows. */
interface OwnedStreamWindows {
  /** What criscope may still send the runtime on this stream. */
  runtime: number;
  /** What the client may still send criscope on this stream. */
  client: number;
  /**
   * Credit criscope gave the client ahead of the runtime (for bytes it held
   * to judge, or added by a rewrite): the runtime's own credit for those
   * bytes is criscope's to keep, not the client's a second time.
   */
  creditedAhead: number;
}

/** What becomes of a client DATA frame. */
export const ClientDataFate = {
  /** Pass-through, and the runtime's window has room: it goes on now. */
  Forward: 0,
  /** Pass-through, but the runtime's window is short (or earlier DATA waits): it waits its turn. */
  Queue: 1,
  /** On an owned stream: its content is criscope's to send. */
  Hold: 2,
  /** It overran the client's connection window. */
  ConnectionOverrun: 3,
  /** It overran an owned stream's window. */
  StreamOverrun: 4,
} as const;
export type ClientDataFate = (typeof ClientDataFate)[keyof typeof ClientDataFate];

export class RequestFlow {
  /** What criscope may still send the runtime on the connection. */
  private runtimeWindow = DEFAULT_WINDOW;
  /** What the client may still send on the connection: the credit it was given. */
  private clientWindow = DEFAULT_WINDOW;
  /** Bytes taken in on owned streams and not yet sent, counted at the size they will be sent. */
  private pendingBytes = 0;
  /** Flow-controlled bytes of pass-through DATA frames waiting for the runtime's credit. */
  private queuedBytes = 0;
  /**
   * The runtime's SETTINGS_INITIAL_WINDOW_SIZE as criscope sends by it: where
   * a new stream's runtime window starts. A lowered value counts at once, a
   * raised one only from the client's ACK on, the first point where criscope's
   * DATA reaches the runtime after an ACK of it.
   */
  private runtimeInitial = DEFAULT_WINDOW;
  /** The same setting as the client applies it (once it has ACKed the SETTINGS): where its window starts. */
  private clientInitial = DEFAULT_WINDOW;
  /** For each runtime SETTINGS the client has not yet ACKed, the initial window it carries (undefined: none). */
  private readonly unackedInitials: (number | undefined)[] = [];
  private readonly owned = new Map<number, OwnedStreamWindows>();

  get runtimeConnectionWindow(): number {
    return this.runtimeWindow;
  }

  get clientConnectionWindow(): number {
    return this.clientWindow;
  }

  get pending(): number {
    return this.pendingBytes;
  }

  get queued(): number {
    return this.queuedBytes;
  }

  /** Stream windows of an owned stream (for tests and diagnostics). */
  streamWindows(streamId: number): Readonly<OwnedStreamWindows> | undefined {
    return this.owned.get(streamId);
  }

  /**
   * criscope takes over a new stream, before any of its DATA: each window
   * starts where that side's view of the runtime's SETTINGS puts it.
   */
  own(streamId: number): void {
    if (!this.owned.has(streamId)) this.owned.set(streamId, { runtime: this.runtimeInitial, client: this.clientInitial, creditedAhead: 0 });
  }

  /**
   * The owned stream is over (ended, reset, or given up): `unsent` bytes that
   * were pending never go out.
   */
  disown(streamId: number, unsent: number): void {
    this.owned.delete(streamId);
    this.pendingBytes -= unsent;
  }

  /**
   * A SETTINGS frame from the runtime (not an ACK), as it is relayed, with the
   * SETTINGS_INITIAL_WINDOW_SIZE it carries, if any. The client applies it
   * when it reads it, which its ACK tells (RFC 9113 §6.5.3); the runtime may
   * count by the old value until that ACK reaches it, so criscope sends by the
   * smaller of the two meanwhile. Every open stream window moves by the
   * difference (§6.9.2) and may go negative.
   */
  runtimeSettings(initialWindow: number | undefined): void {
    this.unackedInitials.push(initialWindow);
    this.settleRuntimeInitial();
  }

  /** The client ACKed the runtime's oldest unacknowledged SETTINGS. */
  clientAckedSettings(): void {
    if (this.unackedInitials.length === 0) return;
    const initialWindow = this.unackedInitials.shift();
    if (initialWindow !== undefined) {
      const delta = initialWindow - this.clientInitial;
      this.clientInitial = initialWindow;
      for (const windows of this.owned.values()) windows.client += delta;
    }
    this.settleRuntimeInitial();
  }

  /** criscope sends by the acknowledged value, or a smaller one on its way. */
  private settleRuntimeInitial(): void {
    let initial = this.clientInitial;
    for (const pending of this.unackedInitials) if (pending !== undefined && pending < initial) initial = pending;
    const delta = initial - this.runtimeInitial;
    if (delta === 0) return;
    this.runtimeInitial = initial;
    for (const windows of this.owned.values()) windows.runtime += delta;
  }

  /**
   * A DATA frame from the client, `length` flow-controlled bytes of which
   * `content` are not padding: on an owned stream the content becomes
   * pending; otherwise the frame goes on now, or waits behind others for the
   * runtime's credit. An overrun frame must not go on.
   */
  clientData(streamId: number, length: number, content: number): ClientDataFate {
    if (length > this.clientWindow) return ClientDataFate.ConnectionOverrun;
    this.clientWindow -= length;
    const windows = this.owned.get(streamId);
    if (windows === undefined) {
      if (this.queuedBytes === 0 && length <= this.runtimeWindow) {
        this.runtimeWindow -= length;
        return ClientDataFate.Forward;
      }
      this.queuedBytes += length;
      return ClientDataFate.Queue;
    }
    // Dropped, it still counted against the connection: the credit is the client's again once the stream is given up.
    if (length > windows.client) return ClientDataFate.StreamOverrun;
    windows.client -= length;
    this.pendingBytes += content;
    return ClientDataFate.Hold;
  }

  /**
   * A DATA frame from the client that criscope drops (a stream it answered, a
   * connection it no longer relays): the client spent credit the runtime never
   * sees used. False when it overran the client's connection window.
   */
  clientDataDropped(length: number): boolean {
    if (length > this.clientWindow) return false;
    this.clientWindow -= length;
    return true;
  }

  /** Whether a waiting pass-through frame of `length` bytes fits the runtime's window now. */
  fitsRuntime(length: number): boolean {
    return length <= this.runtimeWindow;
  }

  /** A waiting pass-through frame went on. */
  queuedSent(length: number): void {
    this.queuedBytes -= length;
    this.runtimeWindow -= length;
  }

  /** A waiting pass-through frame never goes on (its stream was reset). */
  queuedDropped(length: number): void {
    this.queuedBytes -= length;
  }

  /**
   * A pending message of an owned stream was rewritten to a different size.
   * The runtime will credit the bytes it receives, not those the client sent.
   */
  resized(streamId: number, delta: number): void {
    this.pendingBytes += delta;
    const windows = this.owned.get(streamId);
    if (windows !== undefined) windows.creditedAhead = Math.max(0, windows.creditedAhead + delta);
  }

  /**
   * How many pending bytes of an owned stream criscope may send the runtime
   * now: what both the stream's and the connection's window allow, and
   * nothing while pass-through DATA waits (it goes first).
   */
  sendable(streamId: number): number {
    const windows = this.owned.get(streamId);
    if (windows === undefined || this.queuedBytes > 0) return 0;
    return Math.max(0, Math.min(windows.runtime, this.runtimeWindow));
  }

  /** criscope sent `bytes` pending bytes of an owned stream to the runtime. */
  sent(streamId: number, bytes: number): void {
    const windows = this.owned.get(streamId);
    if (windows !== undefined) windows.runtime -= bytes;
    this.runtimeWindow -= bytes;
    this.pendingBytes -= bytes;
  }

  /**
   * A WINDOW_UPDATE from the runtime. Returns the increment to pass on to the
   * client: all of it for a pass-through stream; for an owned one, what is
   * not for bytes criscope credited the client ahead; for the connection,
   * what is left once the bytes criscope holds are covered.
   */
  runtimeWindowUpdate(streamId: number, increment: number): number {
    if (streamId !== 0) {
      const windows = this.owned.get(streamId);
      if (windows === undefined) return increment;
      windows.runtime += increment;
      const kept = Math.min(increment, windows.creditedAhead);
      windows.creditedAhead -= kept;
      const passOn = Math.min(increment - kept, MAX_WINDOW - windows.client);
      windows.client += passOn;
      return passOn;
    }
    this.runtimeWindow += increment;
    return this.takeClientCredit();
  }

  /**
   * Connection credit the client is owed and may now be given (after pending
   * bytes were sent smaller, discarded, or client DATA was dropped); marks it
   * given.
   */
  takeClientCredit(): number {
    const due = this.runtimeWindow - this.clientWindow - this.pendingBytes - this.queuedBytes;
    if (due <= 0) return 0;
    this.clientWindow += due;
    return due;
  }

  /**
   * criscope credits the client on an owned stream itself: `ahead` bytes it
   * holds to judge (the runtime will credit them again once it has them), and
   * `own` bytes the runtime never sees (padding). Returns the credit given.
   */
  creditClientStream(streamId: number, ahead: number, own: number): number {
    const windows = this.owned.get(streamId);
    if (windows === undefined) return 0;
    const room = MAX_WINDOW - windows.client;
    const givenAhead = Math.max(0, Math.min(ahead, room));
    const given = givenAhead + Math.max(0, Math.min(own, room - givenAhead));
    windows.client += given;
    windows.creditedAhead += givenAhead;
    return given;
  }
}
