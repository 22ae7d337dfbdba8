import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace';

/**
 * The SDK's id generator, with one addition: a span id chosen beforehand. The
 * relay must name a call's span as the runtime's parent the moment the request
 * passes, but the span itself is only made once the call has ended, off the
 * relay's path; the id chosen then is handed to the SDK here.
 */
export class ChosenSpanIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private chosen: string | undefined;

  /** A fresh span id, for a span to be started later with `startNextWith`. */
  newSpanId(): string {
    return this.random.generateSpanId();
  }

  /** The next span the SDK starts (synchronously, right after this call) gets `spanId`. */
  startNextWith(spanId: string): void {
    this.chosen = spanId;
  }

  generateSpanId(): string {
    const chosen = this.chosen;
    if (chosen === undefined) return this.random.generateSpanId();
    this.chosen = undefined;
    return chosen;
  }

  generateTraceId(): string {
    return this.random.generateTraceId();
  }
}
