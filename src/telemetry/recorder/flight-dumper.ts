import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import { GrpcStatus, grpcStatusName } from '../../wire-codes.js';
import type { CallInFlight, CallsInFlight } from '../call-in-flight.js';
import type { Logger } from '../logger.js';
import { CALL_ENTRY_VERSION } from './call-entry.js';
import { FLIGHT_DUMP_KIND, pruneDumps, writeDump, type DumpTrigger, type FlightDumpHeader } from './flight-dump.js';
import type { FlightRecorder } from './flight-recorder.js';

export interface FlightDumperSettings {
  readonly dumpDir: string;
  readonly maxDumps: number;
  /** The least time between two automatic dumps. */
  readonly autoDumpIntervalSeconds: number;
  /** A call in flight this long dumps the recorder, once per call. */
  readonly stuckCallSeconds: number;
}

/** The most often calls in flight are looked at for one that is stuck. */
const MAX_STUCK_SCAN_MS = 10_000;

/**
 * Dumps the flight recorder to files: on demand (SIGUSR1), and by itself when
 * trouble starts (the runtime becomes unreachable, a call ends
 * DEADLINE_EXCEEDED or UNAVAILABLE, a call stays in flight too long), at most
 * one automatic dump per interval. The calls are taken at once, the file is
 * written after, off the relay's path. One dump at a time: while one is being
 * written, another asked for is not taken (a dump copies the whole recorder,
 * so an outage or a burst of signals must not queue copies of it). A failure
 * is logged, never thrown at a call nor at the relay.
 */
export class FlightDumper implements CallObserver {
  private lastAutomaticTick = -Infinity;
  /** The dump being written, until it is; undefined when none is. */
  private writing: Promise<string | undefined> | undefined;
  private readonly reportedStuck = new WeakSet<CallInFlight>();
  private stuckScan: NodeJS.Timeout | undefined;

  constructor(
    private readonly recorder: FlightRecorder,
    private readonly settings: FlightDumperSettings,
    private readonly callsInFlight: CallsInFlight,
    private readonly version: string,
    private readonly log: Logger,
  ) {}

  /** Starts looking for calls stuck in flight (only when the recorder keeps calls: without them there is nothing to dump). */
  start(): void {
    if (!this.recorder.keeps) return;
    const everyMs = Math.min(MAX_STUCK_SCAN_MS, (this.settings.stuckCallSeconds * 1000) / 4);
    this.stuckScan = setInterval(() => this.guarded(() => this.findStuckCalls()), everyMs);
    this.stuckScan.unref();
  }

  /** Stops looking, and waits for a dump being written. */
  async stop(): Promise<void> {
    clearInterval(this.stuckScan);
    await this.writing;
  }

  onCall(record: CallRecord): void {
    const code = record.code;
    if (code !== GrpcStatus.DEADLINE_EXCEEDED && code !== GrpcStatus.UNAVAILABLE) return;
    // criscope's own answers (UNAVAILABLE while it shuts down or drains) come with every restart; losing the runtime is the reachability trigger's.
    if (record.answeredByCriscope) return;
    // ExecSync ends DEADLINE_EXCEEDED whenever a probe's command outlives its timeout: routine, and it would rotate an incident's dump out.
    if (code === GrpcStatus.DEADLINE_EXCEEDED && record.methodName === 'ExecSync') return;
    this.automatic('call-status', `${record.methodName} ended ${grpcStatusName(code)}`);
  }

  /** From the relay: a change of the runtime's reachability. */
  readonly reachabilityChanged = (endpoint: string, reachable: boolean): void => {
    if (!reachable) this.guarded(() => this.automatic('runtime-unreachable', `the runtime at ${endpoint} became unreachable`));
  };

  /**
   * A dump asked for by the operator (SIGUSR1): never held back by the
   * interval. Resolves with its path, or undefined when none was written; while
   * a dump is being written, with that one's.
   */
  dumpNow(reason: string): Promise<string | undefined> {
    if (!this.recorder.keeps) {
      this.log.warn({ reason }, 'nothing to dump: the flight recorder is off (set flightRecorder.maxRecords, e.g. 20000, and restart criscope)');
      return Promise.resolve(undefined);
    }
    if (this.writing !== undefined) {
      this.log.debug({ reason }, 'a flight dump is already being written: this request is answered by it');
      return this.writing;
    }
    // Asked for from a signal handler: what taking the calls throws is logged, never left to crash criscope.
    try {
      return this.dump('signal', reason);
    } catch (error) {
      this.log.error({ err: error }, 'flight dump failed');
      return Promise.resolve(undefined);
    }
  }

  /** Dumps unless the recorder is off, the last automatic dump is too recent, or one is being written; says whether it dumped. */
  private automatic(trigger: DumpTrigger, reason: string): boolean {
    if (!this.recorder.keeps) return false;
    const now = performance.now();
    if (now - this.lastAutomaticTick < this.settings.autoDumpIntervalSeconds * 1000) return false;
    if (this.writing !== undefined) {
      this.log.debug({ trigger, reason }, 'a flight dump is already being written: no other is taken');
      return false;
    }
    this.lastAutomaticTick = now;
    void this.dump(trigger, reason);
    return true;
  }

  private findStuckCalls(): void {
    const thresholdMs = this.settings.stuckCallSeconds * 1000;
    const now = performance.now();
    for (const call of this.callsInFlight()) {
      // A streaming call (GetContainerEvents) stays open by design.
      if (call.serverStreaming || now - call.startedTick < thresholdMs || this.reportedStuck.has(call)) continue;
      // Reported only once a dump holds it: one held back is looked at again at the next scan.
      if (this.automatic('stuck-call', `${call.methodName} in flight for over ${this.settings.stuckCallSeconds}s`)) this.reportedStuck.add(call);
    }
  }

  /** A trigger run from a timer or from the relay: what it throws is logged here, never left to crash criscope or reach the relay. */
  private guarded(trigger: () => void): void {
    try {
      trigger();
    } catch (error) {
      this.log.error({ err: error }, 'flight dump trigger failed');
    }
  }

  /** Takes the calls now, and writes them; the caller has checked that no dump is being written. */
  private dump(trigger: DumpTrigger, reason: string): Promise<string | undefined> {
    const entries = this.recorder.heldNow();
    const header: FlightDumpHeader = {
      v: CALL_ENTRY_VERSION,
      kind: FLIGHT_DUMP_KIND,
      time: new Date().toISOString(),
      trigger,
      reason,
      criscope: this.version,
      calls: entries.length,
      inFlight: this.recorder.inFlightNow(),
    };
    const { dumpDir, maxDumps } = this.settings;
    const written = (async () => {
      try {
        const path = await writeDump(dumpDir, header, entries);
        const removed = await pruneDumps(dumpDir, maxDumps);
        const fields = { path, trigger, reason, calls: entries.length, inFlight: header.inFlight.length, removed: removed.length };
        if (trigger === 'signal') this.log.info(fields, 'flight recorder dumped');
        else this.log.warn(fields, 'flight recorder dumped: trouble seen');
        return path;
      } catch (error) {
        this.log.error({ err: error, dumpDir, trigger, reason }, 'could not dump the flight recorder');
        return undefined;
      } finally {
        this.writing = undefined;
      }
    })();
    this.writing = written;
    return written;
  }
}
