import { Gauge, type Registry } from 'prom-client';

/** What the flight recorder holds, read at scrape time. */
export interface RecorderHoldings {
  readonly heldCalls: number;
  readonly heldBytes: number;
}

/** The flight recorder's size as gauges, so an operator (and the benchmark) can see it stays within its bounds. */
export function recorderMetrics(registry: Registry, recorder: RecorderHoldings): void {
  new Gauge({
    name: 'criscope_flight_recorder_calls',
    help: 'Calls the flight recorder holds (at most flightRecorder.maxRecords).',
    registers: [registry],
    collect() {
      this.set(recorder.heldCalls);
    },
  });
  new Gauge({
    name: 'criscope_flight_recorder_bytes',
    help: 'Bytes the flight recorder counts for the calls it holds (at most flightRecorder.maxBytes).',
    registers: [registry],
    collect() {
      this.set(recorder.heldBytes);
    },
  });
}
