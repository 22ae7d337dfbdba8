/**
 * The largest value of a limit one peer sets by SETTINGS for what the other
 * sends it (SETTINGS_HEADER_TABLE_SIZE for the other's HPACK encoder,
 * SETTINGS_MAX_FRAME_SIZE for its frames), as criscope must accept it from
 * the sending peer.
 *
 * The sender applies a new value when the SETTINGS reaches it, so what it
 * wrote before then may still keep to the old one: a lowered value binds only
 * once the SETTINGS is acknowledged (RFC 9113 §6.5.3, RFC 7541 §4.2), while a
 * raised one may be used as soon as the SETTINGS is on its way. Until its ACK,
 * the allowed value is the largest of the applied one and every pending one.
 * ACKs answer SETTINGS frames in order, so every SETTINGS is counted, with a
 * value or without.
 */

/**
 * Pending values kept apart. Past that (a peer flooding SETTINGS), the newest
 * is folded into the last: the limit may then be more lenient than the peer's
 * until that ACK, never stricter, and exact again after it.
 */
const MAX_PENDING = 32;

interface PendingValue {
  /** Number of the SETTINGS frame (counted from 1) whose ACK applies `value`. */
  settings: number;
  value: number;
  /** The largest value folded into this entry: what it allows while pending. */
  peak: number;
}

export class SettingLimit {
  private applied: number;
  private settingsSent = 0;
  private settingsAcked = 0;
  private readonly pending: PendingValue[] = [];
  private largest: number;

  constructor(initial: number) {
    if (!Number.isSafeInteger(initial) || initial < 0) throw new RangeError(`invalid SETTINGS limit ${initial}`);
    this.applied = initial;
    this.largest = initial;
  }

  /** The largest value the sending peer may keep to now. */
  get allowed(): number {
    return this.largest;
  }

  /** The receiving peer sent SETTINGS; `value` is the setting, if the frame carried it. */
  sent(value: number | undefined): void {
    this.settingsSent++;
    if (value === undefined) return;
    const last = this.pending[this.pending.length - 1];
    if (this.pending.length >= MAX_PENDING && last !== undefined) {
      last.settings = this.settingsSent;
      last.value = value;
      last.peak = Math.max(last.peak, value);
    } else {
      this.pending.push({ settings: this.settingsSent, value, peak: value });
    }
    this.largest = Math.max(this.largest, value);
  }

  /** The sending peer acknowledged the oldest SETTINGS not yet acknowledged. An ACK nobody asked for changes nothing. */
  acknowledged(): void {
    if (this.settingsAcked === this.settingsSent) return;
    this.settingsAcked++;
    const first = this.pending[0];
    if (first === undefined || first.settings !== this.settingsAcked) return;
    this.pending.shift();
    this.applied = first.value;
    let largest = this.applied;
    for (const { peak } of this.pending) largest = Math.max(largest, peak);
    this.largest = largest;
  }
}
