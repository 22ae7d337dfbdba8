import { Counter, type Registry } from 'prom-client';
import type { CallObserver, CallRecord } from '../cri/call-record.js';

/**
 * Prometheus metrics of relayed calls. Reading a record's decode result makes
 * every call decoded once, so a message criscope cannot read is always counted,
 * whatever the log level.
 */
export class CallMetrics implements CallObserver {
  private readonly decodeFailures: Counter<'direction'>;

  constructor(registry: Registry) {
    this.decodeFailures = new Counter({
      name: 'criscope_decode_failures_total',
      help: 'CRI messages criscope relayed but could not decode for its records, by direction.',
      labelNames: ['direction'],
      registers: [registry],
    });
  }

  onCall(record: CallRecord): void {
    const failure = record.decodeError;
    if (failure !== undefined) this.decodeFailures.inc({ direction: failure.direction });
  }
}
