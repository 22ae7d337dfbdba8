/**
 * The largest dynamic table size an HPACK decoder must accept in a size
 * update, for a decoder that mirrors one peer's encoder while the other peer,
 * the one that decodes, sets the limit with SETTINGS_HEADER_TABLE_SIZE.
 *
 * The encoder applies a new limit when the SETTINGS reaches it, so blocks it
 * wrote before then may still carry the old one: a lowered limit binds only
 * once the SETTINGS is acknowledged (RFC 9113 §6.5.3, RFC 7541 §4.2), while a
 * raised one may be used as soon as the SETTINGS is on its way. Until its ACK,
 * the allowed size is the largest of the applied value and every pending one.
 * ACKs answer SETTINGS frames in order, so every SETTINGS is counted, with a
 * table size or without.
 */

/** RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE before any SETTINGS says otherwise. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/**
 * Pending table sizes kept apart. Past that (a peer flooding SETTINGS), the
 * newest is folded into the last: the limit may then be more lenient than the
 * peer's until that ACK, never stricter, and exact again after it.
 */
const MAX_PENDING = 32;

interface PendingSize {
  /** Number of the SETTINGS frame (counted from 1) whose ACK applies `size`. */
  settings: number;
  size: number;
  /** The largest size folded into this entry: what it allows while pending. */
  peak: number;
}

export class HeaderTableSizeLimit {
  private applied: number;
  private settingsSent = 0;
  private settingsAcked = 0;
  private readonly pending: PendingSize[] = [];
  private largest: number;

  constructor(initial = DEFAULT_HEADER_TABLE_SIZE) {
    if (!Number.isSafeInteger(initial) || initial < 0) throw new RangeError(`invalid HPACK table size limit ${initial}`);
    this.applied = initial;
    this.largest = initial;
  }

  /** The largest size a dynamic table size update may ask for now. */
  get allowed(): number {
    return this.largest;
  }

  /** The decoding peer sent SETTINGS; `tableSize` is its SETTINGS_HEADER_TABLE_SIZE, if the frame carried one. */
  sent(tableSize: number | undefined): void {
    this.settingsSent++;
    if (tableSize === undefined) return;
    const last = this.pending[this.pending.length - 1];
    if (this.pending.length >= MAX_PENDING && last !== undefined) {
      last.settings = this.settingsSent;
      last.size = tableSize;
      last.peak = Math.max(last.peak, tableSize);
    } else {
      this.pending.push({ settings: this.settingsSent, size: tableSize, peak: tableSize });
    }
    this.largest = Math.max(this.largest, tableSize);
  }

  /** The encoding peer acknowledged the oldest SETTINGS not yet acknowledged. An ACK nobody asked for changes nothing. */
  acknowledged(): void {
    if (this.settingsAcked === this.settingsSent) return;
    this.settingsAcked++;
    const first = this.pending[0];
    if (first === undefined || first.settings !== this.settingsAcked) return;
    this.pending.shift();
    this.applied = first.size;
    let largest = this.applied;
    for (const { peak } of this.pending) largest = Math.max(largest, peak);
    this.largest = largest;
  }
}
