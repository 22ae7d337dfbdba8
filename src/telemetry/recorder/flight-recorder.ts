import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import type { CallsInFlight } from '../call-in-flight.js';
import { callEntry, callEntryFacts, type CallEntry } from './call-entry.js';
import { entryLine } from './entry-line.js';
import { keepCall, readCall, startedAtMs } from './entry-record.js';
import { entryMatcher, type EntryFilter } from './entry-filter.js';
import { FlightRing } from './flight-ring.js';
import { inFlightEntry, type InFlightEntry } from './in-flight-entry.js';
import { PodIndex } from './pod-index.js';
import { Subscriber, type LineSink } from './subscriber.js';

/** A subscriber, and how it leaves. */
export interface Subscription {
  readonly subscriber: Subscriber;
  end(): void;
}

export interface FlightRecorderSettings {
  /** The most calls kept; 0 keeps none (subscribers still get live calls). */
  readonly maxRecords: number;
  readonly maxBytes: number;
  /** The most subscribers at once. */
  readonly maxSubscribers: number;
  /** How far a subscriber's reader may lag, in bytes, before calls are dropped for it. */
  readonly maxQueuedBytesPerSubscriber: number;
}

/** Another subscriber would be one too many. */
export class TooManySubscribersError extends Error {
  override readonly name = 'TooManySubscribersError';
  constructor(readonly limit: number) {
    super(`criscope already serves ${limit} subscribers, its limit (admin.maxSubscribers)`);
  }
}

/**
 * Keeps the last finished calls in memory (the ring), and hands each to the
 * subscribers that want it as it finishes. Runs as a call observer, off the
 * relay's path; a subscriber that does not read loses calls, never slows one.
 */
export class FlightRecorder implements CallObserver {
  private readonly ring: FlightRing;
  private readonly subscribers = new Set<Subscriber>();
  private readonly podIndex = new PodIndex();

  constructor(
    private readonly settings: FlightRecorderSettings,
    private readonly callsInFlight: CallsInFlight = () => [],
  ) {
    this.ring = new FlightRing(settings.maxRecords, settings.maxBytes);
  }

  /** Whether it keeps calls at all (flightRecorder.maxRecords and maxBytes are not 0). */
  get keeps(): boolean {
    return this.ring.keeps;
  }

  get maxSubscribers(): number {
    return this.settings.maxSubscribers;
  }

  get heldCalls(): number {
    return this.ring.size;
  }

  get heldBytes(): number {
    return this.ring.bytes;
  }

  onCall(record: CallRecord): void {
    if (!this.keeps && this.subscribers.size === 0) return;
    const facts = callEntryFacts(record);
    const pod = this.podIndex.learnOrFind(record.identity);
    if (this.keeps) keepCall(this.ring, record, facts, pod);
    if (this.subscribers.size === 0) return;
    const entry = callEntry(record, facts, pod);
    let line: string | undefined;
    const lineOnce = (): string => (line ??= entryLine(entry));
    for (const subscriber of this.subscribers) subscriber.offer(entry, lineOnce);
  }

  /** The calls held now that started at `sinceMs` (epoch ms) or later, oldest first: a copy, which later calls do not change. */
  heldNow(sinceMs = -Infinity): CallEntry[] {
    const entries: CallEntry[] = [];
    // Only the calls asked for are made into entries: the start time is read from the record first.
    for (const record of this.ring) if (startedAtMs(record) >= sinceMs) entries.push(readCall(record));
    return entries;
  }

  /** The calls in flight now, oldest first, each with its pod when the recorder has seen it. */
  inFlightNow(): InFlightEntry[] {
    const now = performance.now();
    const entries: InFlightEntry[] = [];
    for (const call of this.callsInFlight()) entries.push(this.podIndex.completeOnly(inFlightEntry(call, now)));
    return entries.sort((a, b) => b.ageMs - a.ageMs);
  }

  /**
   * Follows finished calls that match `filter` into `sink` until the returned
   * function is called; with `holding`, live calls wait until the subscriber is released.
   */
  subscribe(filter: EntryFilter, sink: LineSink, holding = false): Subscription {
    if (this.subscribers.size >= this.settings.maxSubscribers) throw new TooManySubscribersError(this.settings.maxSubscribers);
    const subscriber = new Subscriber(entryMatcher(filter), sink, this.settings.maxQueuedBytesPerSubscriber);
    if (holding) subscriber.hold();
    this.subscribers.add(subscriber);
    return {
      subscriber,
      end: () => {
        subscriber.close();
        this.subscribers.delete(subscriber);
      },
    };
  }
}
