// The OTLP receiver criscope+telemetry exports its spans to, in a process of its own: decoding
// thousands of spans a second on the bench's event loop would delay whichever path is being timed,
// and it is a collector's work, not criscope's. No OpenTelemetry Collector runs here, so the
// tests' receiver (test/support/otlp-receiver.ts) stands in for one.
// argv: <client trace id prefix>; prints one SinkReadyLine when serving, then answers every line
// on stdin with a SpanTally line.

import { createInterface } from "node:readline";
import { OtlpReceiver } from "../test/support/otlp-receiver.js";

export interface SinkReadyLine {
  readonly endpoint: string;
}

export interface SpanTally {
  readonly spans: number;
  /** Spans whose trace id is one the bench client sent in traceparent: criscope took the client's trace context. */
  readonly spansInClientTraces: number;
  readonly exportCalls: number;
}

const [clientTraceIdPrefix] = process.argv.slice(2);
if (clientTraceIdPrefix === undefined || clientTraceIdPrefix === "") throw new Error("usage: otlp-sink-process.js <client trace id prefix>");

const receiver = await OtlpReceiver.start();
let spans = 0;
let spansInClientTraces = 0;
const tally = (): SpanTally => {
  for (const span of receiver.takeSpans()) {
    spans++;
    if (span.traceId.startsWith(clientTraceIdPrefix)) spansInClientTraces++;
  }
  return { spans, spansInClientTraces, exportCalls: receiver.exportCalls };
};

const ready: SinkReadyLine = { endpoint: receiver.endpoint };
process.stdout.write(`${JSON.stringify(ready)}\n`);

const shutDown = (): void => {
  void receiver.close().then(() => process.exit(0));
};
process.once("SIGTERM", shutDown);
// The bench holds our stdin open; when it goes away, so do we.
const requests = createInterface({ input: process.stdin });
requests.on("line", () => process.stdout.write(`${JSON.stringify(tally())}\n`));
requests.once("close", shutDown);
