/**
 * The bytes one connection may keep at once for decoding (its calls' first
 * messages, for records and for policy), so that many large answers in flight
 * on one connection cannot make criscope hold them all. A message is taken from
 * it whole, by the length its gRPC prefix declares, before its first byte is
 * kept; its call gives the bytes back once its record is handed over or the
 * call is forgotten.
 */
export class KeepBudget {
  private taken = 0;

  constructor(readonly limit: number) {}

  /** Bytes kept now by the connection's calls. */
  get used(): number {
    return this.taken;
  }

  /** Takes `bytes` if they fit under the limit; false (and nothing taken) otherwise. */
  tryTake(bytes: number): boolean {
    if (bytes > this.limit - this.taken) return false;
    this.taken += bytes;
    return true;
  }

  /** Gives back bytes taken earlier. */
  give(bytes: number): void {
    if (bytes > this.taken) throw new RangeError(`${bytes} bytes given back to a keep budget that has lent only ${this.taken}`);
    this.taken -= bytes;
  }
}
