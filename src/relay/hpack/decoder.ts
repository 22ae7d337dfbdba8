/**
 * An HPACK (RFC 7541) decoder for one direction of one HTTP/2 connection. The
 * relay only reads header blocks, so it needs a decoder per direction that sees
 * every block of that direction, in order, exactly once: HPACK is stateful, and
 * a skipped or reordered block desynchronises the dynamic table for good.
 *
 * Names and values are returned as 'latin1' strings: HTTP/2 field values are
 * octet strings, and latin1 maps each octet to one char, so any octet round-trips
 * (node:http2 does the same) and a string's length is its octet count, which is
 * what dynamic table accounting needs.
 */
import { DynamicTable } from './dynamic-table.js';
import { HpackError } from './errors.js';
import { huffmanDecode } from './huffman.js';
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from './static-table.js';
import { SettingLimit } from '../setting-limit.js';

export { HpackError } from './errors.js';

/** Larger integers are nonsense for lengths, indexes and table sizes (and nghttp2 caps at 32 bits too). */
const MAX_INTEGER = 0x7fffffff;
/** Continuation octets allowed after a full prefix: 5 × 7 bits covers MAX_INTEGER, more is padding abuse. */
const MAX_CONTINUATION_SCALE = 2 ** 28;
/** What `watchedFields` is for a block without such fields: shared, so the common case allocates nothing. */
const NONE: readonly WatchedField[] = Object.freeze([]);

/** How a field was represented in its block (RFC 7541 §6). */
export const enum Representation {
  Indexed = 0,
  IncrementalIndexing = 1,
  WithoutIndexing = 2,
  NeverIndexed = 3,
}

/**
 * Where a field of the watched name sits in the block just decoded, so that a
 * relay can splice in another value and pass every other octet on as it came.
 */
export interface WatchedField {
  /** Index of the field's name in the decoded list. */
  readonly field: number;
  readonly representation: Representation;
  /** The representation's octets in the block: [start, end). */
  readonly start: number;
  readonly end: number;
  /** Where a literal's value string starts (after its name); `end` for an indexed field. */
  readonly valueStart: number;
  /** An indexed field's index (§2.3.3). */
  readonly index: number;
  /** A literal with incremental indexing: its insertion's serial, for shadow(); -1 if it was too large to insert. */
  readonly insertion: number;
  /** An indexed field whose entry criscope shadowed: the value the receiver holds there instead of the sender's. */
  readonly receiverValue: string | undefined;
}

export class HpackDecoder {
  /**
   * Largest table size a size update may ask for: it follows the
   * SETTINGS_HEADER_TABLE_SIZE the decoding peer advertised, and its ACKs.
   * Lowering it does not shrink the table; the encoder must do that with a
   * size update (RFC 7541 §4.2).
   */
  readonly tableSizeLimit: SettingLimit;

  /** Counts what a block did to the dynamic table (insertions, evictions to make room, size updates): unchanged, a block left it as it was. */
  private changes = 0;
  private readonly table: DynamicTable;
  /** Read position in the block being decoded (a field, so helpers need not return pairs). */
  private pos = 0;
  private failure: HpackError | undefined;
  private watched: readonly WatchedField[] = NONE;

  /**
   * `maxTableSize`: the dynamic table's initial maximum size, which is also
   * the initial limit on size updates (HTTP/2's default is 4096).
   * `watchedName`: a (lowercase) field name whose fields decode() locates in
   * their block (watchedFields).
   */
  constructor(
    maxTableSize = 4096,
    private readonly watchedName?: string,
  ) {
    if (!Number.isSafeInteger(maxTableSize) || maxTableSize < 0) throw new RangeError(`invalid HPACK table size ${maxTableSize}`);
    this.table = new DynamicTable(maxTableSize);
    this.tableSizeLimit = new SettingLimit(maxTableSize);
  }

  /** The fields of the watched name in the block the last decode() read, in order. */
  get watchedFields(): readonly WatchedField[] {
    return this.watched;
  }

  /** Entries of the table whose receiver holds another value (shadow()). */
  get shadowedEntries(): number {
    return this.table.shadowedEntries;
  }

  /**
   * Records that the receiver of the sender's blocks inserted `value` where
   * the sender inserted the entry of serial `insertion`
   * (WatchedField.insertion): a relay passed that literal on with another
   * value of the same length, so both tables keep the same sizes and indexes,
   * and only that entry's value differs. Later references to it report the
   * receiver's value (WatchedField.receiverValue). No-op for an entry already
   * evicted.
   */
  shadow(insertion: number, value: string): void {
    this.table.shadow(insertion, value);
  }

  /** Slots of the dynamic table's ring (grows with the entries, shrinks with the table's maximum size). */
  get tableCapacity(): number {
    return this.table.capacity;
  }

  /** Grows whenever a block changes the dynamic table: the same before and after a block that left it as it was. */
  get tableChanges(): number {
    return this.changes;
  }

  /** Current maximum size of the dynamic table (the last size update, or the initial one). */
  get maxTableSize(): number {
    return this.table.maxTableSize;
  }

  /** Octets the dynamic table's entries take, as RFC 7541 §4.1 counts them. */
  get tableSize(): number {
    return this.table.tableSize;
  }

  /** Number of entries in the dynamic table. */
  get tableLength(): number {
    return this.table.length;
  }

  /** The dynamic table, newest first (index 62 first), for diagnostics and tests. */
  tableEntries(): [string, string][] {
    return this.table.entries();
  }

  /**
   * Decodes one complete header block (HEADERS plus any CONTINUATION fragments,
   * joined) into [name, value, name, value, …] in wire order. Throws HpackError on
   * a malformed block; after that the decoder refuses every later block, because
   * a half-applied block leaves the dynamic table out of step with the encoder's
   * and later blocks would decode to plausible but wrong headers.
   */
  decode(block: Buffer): string[] {
    if (this.failure !== undefined) throw new HpackError(`decoder unusable after an earlier error (${this.failure.message})`, 0);
    try {
      return this.decodeBlock(block);
    } catch (error) {
      if (error instanceof HpackError) this.failure = error;
      throw error;
    }
  }

  private decodeBlock(block: Buffer): string[] {
    const fields: string[] = [];
    const end = block.length;
    this.pos = 0;
    this.watched = NONE;
    let watched: WatchedField[] | undefined;
    const watchedName = this.watchedName;
    while (this.pos < end) {
      const at = this.pos;
      const first = block[at];
      if (first >= 0x80) {
        // 1xxxxxxx: indexed header field (§6.1).
        const index = this.readInteger(block, 0x7f);
        if (index <= STATIC_TABLE_LENGTH) {
          if (index === 0) throw new HpackError('indexed header field with index 0', at);
          fields.push(STATIC_NAMES[index], STATIC_VALUES[index]);
        } else {
          const slot = this.table.slot(index, at);
          const name = this.table.name(slot);
          if (name === watchedName) {
            (watched ??= []).push({ field: fields.length, representation: Representation.Indexed, start: at, end: this.pos, valueStart: this.pos, index, insertion: -1, receiverValue: this.table.receiverValue(slot) });
          }
          fields.push(name, this.table.value(slot));
        }
      } else if (first >= 0x40) {
        // 01xxxxxx: literal with incremental indexing (§6.2.1).
        const name = this.readName(block, 0x3f, at);
        const valueStart = this.pos;
        const value = this.readString(block);
        this.changes++;
        const inserted = this.table.insert(name, value);
        if (name === watchedName) {
          (watched ??= []).push({ field: fields.length, representation: Representation.IncrementalIndexing, start: at, end: this.pos, valueStart, index: 0, insertion: inserted ? this.table.lastInsertion : -1, receiverValue: undefined });
        }
        fields.push(name, value);
      } else if (first >= 0x20) {
        // 001xxxxx: dynamic table size update (§6.3), only before the block's first field (§4.2).
        if (fields.length !== 0) throw new HpackError('dynamic table size update after a header field', at);
        const size = this.readInteger(block, 0x1f);
        const allowed = this.tableSizeLimit.allowed;
        if (size > allowed) throw new HpackError(`dynamic table size update to ${size} exceeds the allowed ${allowed}`, at);
        this.changes++;
        this.table.resize(size);
      } else {
        // 0001xxxx never indexed (§6.2.3) and 0000xxxx without indexing (§6.2.2): same layout.
        const name = this.readName(block, 0x0f, at);
        const valueStart = this.pos;
        const value = this.readString(block);
        if (name === watchedName) {
          const representation = first >= 0x10 ? Representation.NeverIndexed : Representation.WithoutIndexing;
          (watched ??= []).push({ field: fields.length, representation, start: at, end: this.pos, valueStart, index: 0, insertion: -1, receiverValue: undefined });
        }
        fields.push(name, value);
      }
    }
    if (watched !== undefined) this.watched = watched;
    return fields;
  }

  /** An integer with an N-bit prefix (§5.1); `prefixMask` is 2^N - 1. Needs pos < block end. */
  private readInteger(block: Buffer, prefixMask: number): number {
    const at = this.pos;
    let pos = at;
    let value = (block[pos++]) & prefixMask;
    if (value === prefixMask) {
      // Multiplication, not shifts: shifts would wrap at 32 bits before the check.
      let scale = 1;
      let octet: number;
      do {
        if (pos >= block.length) throw new HpackError('truncated integer', at);
        if (scale > MAX_CONTINUATION_SCALE) throw new HpackError('integer has too many continuation octets', at);
        octet = block[pos++];
        value += (octet & 0x7f) * scale;
        scale *= 128;
      } while (octet >= 0x80);
      if (value > MAX_INTEGER) throw new HpackError(`integer ${value} is too large`, at);
    }
    this.pos = pos;
    return value;
  }

  /** A string literal (§5.2), raw or Huffman-coded. */
  private readString(block: Buffer): string {
    const at = this.pos;
    if (at >= block.length) throw new HpackError('header block ends where a string was expected', at);
    const huffman = (block[at]) >= 0x80;
    const length = this.readInteger(block, 0x7f);
    const start = this.pos;
    const stop = start + length;
    if (stop > block.length) throw new HpackError(`string of ${length} octets runs past the end of the block`, at);
    this.pos = stop;
    return huffman ? huffmanDecode(block, start, stop) : block.toString('latin1', start, stop);
  }

  /** A literal's name: an index into either table, or (index 0) a string literal that follows. */
  private readName(block: Buffer, prefixMask: number, at: number): string {
    const index = this.readInteger(block, prefixMask);
    if (index === 0) return this.readString(block);
    if (index <= STATIC_TABLE_LENGTH) return STATIC_NAMES[index];
    return this.table.name(this.table.slot(index, at));
  }
}
