import { Counter, Gauge, type Registry } from 'prom-client';
import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import type { MethodTable } from '../../cri/method-table.js';
import type { CallInFlight, CallsInFlight } from '../call-in-flight.js';
import { MethodLabelValues, OTHER, type MethodLabels } from './label-values.js';
import { PlainCounter, type CounterSeries } from './plain-counter.js';
import { PlainHistogram, type HistogramSeries } from './plain-histogram.js';
import { grpcStatusName } from '../../wire-codes.js';

/** From a Status or ListContainers call (milliseconds) to an image pull (minutes). */
export const CALL_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** gRPC payloads, from an empty request to kubelet's 16 MiB limit. */
const SIZE_BUCKETS = [64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];

type MethodLabelName = keyof MethodLabels;
type ServiceMethod = 'service' | 'method';

/** The series of one method's label values, looked up once per path: a call then costs a few additions. */
interface MethodSeries {
  readonly labels: MethodLabels;
  readonly duration: HistogramSeries<MethodLabelName>;
  readonly requestSize: HistogramSeries<ServiceMethod>;
  readonly responseSize: HistogramSeries<ServiceMethod>;
  /** By gRPC status code (a record's code is always one of gRPC's 17), made on first use. */
  readonly callsByCode: (CounterSeries<ServiceMethod | 'code'> | undefined)[];
  /** Response messages of this method's server-streaming calls that have ended. */
  endedStreamMessages: number;
}

/**
 * Prometheus metrics of every relayed call: counts by code, latency, sizes,
 * and, read at scrape time from the relay, calls in flight and stream messages
 * (so a stream that runs for hours is counted while it runs).
 */
export class CallMetrics implements CallObserver {
  private readonly labels: MethodLabelValues;
  /** By label values ("service/method"): every path our proto does not know shares the "other" series. */
  private readonly series = new Map<string, MethodSeries>();
  /** By path, for the paths our proto knows (any client can send any path: those are not kept). */
  private readonly seriesByPath = new Map<string, MethodSeries>();
  private readonly calls: PlainCounter<ServiceMethod | 'code'>;
  private readonly duration: PlainHistogram<MethodLabelName>;
  private readonly requestSize: PlainHistogram<ServiceMethod>;
  private readonly responseSize: PlainHistogram<ServiceMethod>;
  private readonly decodeFailures: Counter<'direction'>;

  constructor(registry: Registry, table: MethodTable, callsInFlight: CallsInFlight) {
    this.labels = new MethodLabelValues(table);
    this.calls = new PlainCounter({
      name: 'criscope_cri_calls_total',
      help: 'CRI calls relayed, by service, method and the gRPC status the client received.',
      registry,
    });
    this.duration = new PlainHistogram({
      name: 'criscope_cri_call_duration_seconds',
      help: "Time from a CRI call's request headers to the end of its answer; operation_type is kubelet's name for the call.",
      buckets: CALL_DURATION_BUCKETS,
      registry,
    });
    this.requestSize = new PlainHistogram({
      name: 'criscope_cri_request_size_bytes',
      help: 'gRPC payload bytes a CRI call sent to the runtime.',
      buckets: SIZE_BUCKETS,
      registry,
    });
    this.responseSize = new PlainHistogram({
      name: 'criscope_cri_response_size_bytes',
      help: 'gRPC payload bytes the runtime answered a CRI call with.',
      buckets: SIZE_BUCKETS,
      registry,
    });
    this.decodeFailures = new Counter({
      name: 'criscope_decode_failures_total',
      help: 'CRI messages criscope relayed but could not decode for its records, by direction.',
      labelNames: ['direction'],
      registers: [registry],
    });
    for (const direction of ['request', 'response']) this.decodeFailures.inc({ direction }, 0);
    const labelsOf = (call: CallInFlight): MethodLabels => this.labels.of(call.service, call.methodName, call.path);
    const series = this.series;
    new Gauge({
      name: 'criscope_cri_calls_in_flight',
      help: 'CRI calls relayed and not yet answered (server-streaming calls count while they run).',
      labelNames: ['service', 'method'],
      registers: [registry],
      collect() {
        this.reset();
        // A method seen before shows 0 when idle rather than no series at all.
        for (const path of series.values()) this.set({ service: path.labels.service, method: path.labels.method }, 0);
        for (const call of callsInFlight()) {
          const { service, method } = labelsOf(call);
          this.inc({ service, method });
        }
      },
    });
    // What each series last showed: a stream that ended but is not yet recorded, or that the relay
    // stopped following, drops out of the live sum, and a counter must never go back.
    const shownStreamMessages = new Map<string, { labels: MethodLabels; messages: number }>();
    new Counter({
      name: 'criscope_cri_stream_messages_total',
      help: 'Messages the runtime sent on server-streaming CRI calls, counted while the streams run.',
      labelNames: ['service', 'method'],
      registers: [registry],
      collect() {
        const now = new Map<string, number>();
        const add = (labels: MethodLabels, messages: number): void => {
          const key = `${labels.service}/${labels.method}`;
          now.set(key, (now.get(key) ?? 0) + messages);
          if (!shownStreamMessages.has(key)) shownStreamMessages.set(key, { labels, messages: 0 });
        };
        for (const path of series.values()) if (path.endedStreamMessages > 0) add(path.labels, path.endedStreamMessages);
        for (const call of callsInFlight()) if (call.serverStreaming && call.responseMessages > 0) add(labelsOf(call), call.responseMessages);
        this.reset();
        for (const [key, shown] of shownStreamMessages) {
          shown.messages = Math.max(shown.messages, now.get(key) ?? 0);
          this.inc({ service: shown.labels.service, method: shown.labels.method }, shown.messages);
        }
      },
    });
  }

  onCall(record: CallRecord): void {
    const series = this.seriesOf(record);
    series.duration.observe(record.durationSeconds);
    series.requestSize.observe(record.request.payloadBytes);
    series.responseSize.observe(record.response.payloadBytes);
    const code = record.code;
    const calls = series.callsByCode[code] ?? this.newCallsSeries(series, code);
    calls.inc();
    if (record.method?.serverStreaming === true) series.endedStreamMessages += record.response.messages;
    const failure = record.decodeError;
    if (failure !== undefined) this.decodeFailures.inc({ direction: failure.direction });
  }

  private seriesOf(record: CallRecord): MethodSeries {
    const known = this.seriesByPath.get(record.path);
    if (known !== undefined) return known;
    const labels = this.labels.of(record.service, record.methodName, record.path);
    const key = `${labels.service}/${labels.method}`;
    let series = this.series.get(key);
    if (series === undefined) {
      const { service, method } = labels;
      series = {
        labels,
        duration: this.duration.newSeries(labels),
        requestSize: this.requestSize.newSeries({ service, method }),
        responseSize: this.responseSize.newSeries({ service, method }),
        callsByCode: [],
        endedStreamMessages: 0,
      };
      this.series.set(key, series);
    }
    if (labels.method !== OTHER) this.seriesByPath.set(record.path, series);
    return series;
  }

  private newCallsSeries(series: MethodSeries, code: number): CounterSeries<ServiceMethod | 'code'> {
    const calls = this.calls.newSeries({ service: series.labels.service, method: series.labels.method, code: grpcStatusName(code) });
    series.callsByCode[code] = calls;
    return calls;
  }
}
