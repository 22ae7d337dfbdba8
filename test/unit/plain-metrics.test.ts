import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { CallRecord, type CallTraffic } from '../../src/cri/call-record.js';
import type { CriMethod } from '../../src/cri/method-table.js';
import { CallMetrics } from '../../src/telemetry/metrics/call-metrics.js';
import { PlainCounter } from '../../src/telemetry/metrics/plain-counter.js';
import { PlainHistogram } from '../../src/telemetry/metrics/plain-histogram.js';
import { callFacts } from '../support/call-facts.js';
import { criMethod, criTable } from '../support/cri-client.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
/** Below, on and between the bounds, above them all, and zero. */
const VALUES = [0.0005, 0.001, 0.002, 0.01, 0.5, 1, 9.99, 10, 10.01, 1e6, 0];

/** The exposition of `name` as Prometheus scrapes it from `registry`. */
async function exposition(registry: Registry, name: string): Promise<string> {
  return registry.getSingleMetricAsString(name);
}

/** The registry's metrics as JSON, without prom-client's exemplar slots (criscope keeps no exemplars). */
async function samplesOf(registry: Registry): Promise<unknown> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.map(({ name, help, type, aggregator, values }) => ({
    name,
    help,
    type,
    aggregator,
    values: values.map((value) => ({ ...value, exemplar: undefined })),
  }));
}

describe('PlainHistogram', () => {
  it('renders what prom-client renders for the same observations, series by series', async () => {
    const theirs = new Registry();
    const reference = new Histogram({ name: 'sizes', help: 'h', labelNames: ['service', 'method'], buckets: BUCKETS, registers: [theirs] });
    const ours = new Registry();
    const plain = new PlainHistogram<'service' | 'method'>({ name: 'sizes', help: 'h', buckets: BUCKETS, registry: ours });
    const series = [
      { labels: { service: 'runtime.v1.RuntimeService', method: 'Version' }, values: VALUES },
      { labels: { service: 'runtime.v1.ImageService', method: 'PullImage' }, values: [3, 0.02] },
    ];
    for (const { labels, values } of series) {
      const own = plain.newSeries(labels);
      for (const value of values) {
        own.observe(value);
        reference.observe(labels, value);
      }
    }
    assert.equal(await exposition(ours, 'sizes'), await exposition(theirs, 'sizes'));
    assert.deepEqual(await samplesOf(ours), await samplesOf(theirs));
  });

  it('shows a series only once it has an observation, and never one that is not a number', async () => {
    const registry = new Registry();
    const plain = new PlainHistogram<'method'>({ name: 'durations', help: 'h', buckets: BUCKETS, registry });
    const idle = plain.newSeries({ method: 'Idle' });
    plain.newSeries({ method: 'Used' }).observe(0.5);
    idle.observe(Number.NaN);
    idle.observe(Number.POSITIVE_INFINITY);
    const text = await exposition(registry, 'durations');
    assert.doesNotMatch(text, /Idle/);
    assert.match(text, /^durations_count\{method="Used"\} 1$/m);
    assert.match(text, /^durations_sum\{method="Used"\} 0.5$/m);
  });

  it('starts every series over on a registry reset', async () => {
    const registry = new Registry();
    const plain = new PlainHistogram<'method'>({ name: 'durations', help: 'h', buckets: BUCKETS, registry });
    const series = plain.newSeries({ method: 'Version' });
    series.observe(2);
    registry.resetMetrics();
    assert.doesNotMatch(await exposition(registry, 'durations'), /Version/);
    series.observe(0.05);
    assert.match(await exposition(registry, 'durations'), /^durations_bucket\{le="0.1",method="Version"\} 1$/m);
    assert.match(await exposition(registry, 'durations'), /^durations_count\{method="Version"\} 1$/m);
  });

  it('refuses bounds that do not ascend', () => {
    assert.throws(() => new PlainHistogram({ name: 'bad', help: 'h', buckets: [1, 1], registry: new Registry() }), /bad: bucket bounds must ascend/);
  });
});

describe('PlainCounter', () => {
  it('renders what prom-client renders for the same increments', async () => {
    const theirs = new Registry();
    const reference = new Counter({ name: 'calls_total', help: 'c', labelNames: ['method', 'code'], registers: [theirs] });
    const ours = new Registry();
    const plain = new PlainCounter<'method' | 'code'>({ name: 'calls_total', help: 'c', registry: ours });
    const increments: [labels: { method: string; code: string }, by: number][] = [
      [{ method: 'Version', code: 'OK' }, 1],
      [{ method: 'Version', code: 'UNAVAILABLE' }, 3],
      [{ method: 'Status', code: 'OK' }, 2.5],
    ];
    for (const [labels, by] of increments) {
      plain.newSeries(labels).inc(by);
      reference.inc(labels, by);
    }
    assert.equal(await exposition(ours, 'calls_total'), await exposition(theirs, 'calls_total'));
    assert.deepEqual(await samplesOf(ours), await samplesOf(theirs));
  });
});

const NONE: CallTraffic = { messages: 0, payloadBytes: 0, first: undefined, encoding: undefined };

function record(path: string, method: CriMethod | undefined, grpcStatus: number, durationSeconds: number, requestBytes = 0, responseBytes = 0): CallRecord {
  const service = path.slice(1, path.lastIndexOf('/'));
  return new CallRecord({
    ...callFacts(),
    path,
    method,
    service,
    methodName: path.slice(path.lastIndexOf('/') + 1),
    startTick: performance.now(),
    durationSeconds,
    grpcStatus,
    request: { ...NONE, messages: 1, payloadBytes: requestBytes },
    response: { ...NONE, messages: 1, payloadBytes: responseBytes },
  });
}

describe('CallMetrics', () => {
  it('counts calls by method and code, and times and sizes them by method', async () => {
    const registry = new Registry();
    const metrics = new CallMetrics(registry, criTable, () => []);
    const version = criMethod('Version');
    metrics.onCall(record(version.path, version, 0, 0.002, 10, 40));
    metrics.onCall(record(version.path, version, 0, 0.02, 10, 40));
    metrics.onCall(record(version.path, version, 14, 3, 10, 0));
    const text = await registry.metrics();
    const labels = 'service="runtime.v1.RuntimeService",method="Version"';
    assert.match(text, new RegExp(`^criscope_cri_calls_total\\{${labels},code="OK"\\} 2$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_calls_total\\{${labels},code="UNAVAILABLE"\\} 1$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_call_duration_seconds_bucket\\{le="0.0025",${labels},operation_type="version"\\} 1$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_call_duration_seconds_bucket\\{le="2.5",${labels},operation_type="version"\\} 2$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_call_duration_seconds_count\\{${labels},operation_type="version"\\} 3$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_request_size_bytes_sum\\{${labels}\\} 30$`, 'm'));
    assert.match(text, new RegExp(`^criscope_cri_response_size_bytes_bucket\\{le="64",${labels}\\} 3$`, 'm'));
    assert.match(text, /^criscope_cri_calls_in_flight\{service="runtime.v1.RuntimeService",method="Version"\} 0$/m);
  });

  it('puts every path our proto does not know into one "other" series', async () => {
    const registry = new Registry();
    const metrics = new CallMetrics(registry, criTable, () => []);
    for (let index = 0; index < 50; index++) metrics.onCall(record(`/attacker.Service${index}/Method${index}`, undefined, 12, 0.001));
    metrics.onCall(record('/runtime.v1.RuntimeService/NotInTheProto', undefined, 12, 0.001));
    const text = await registry.metrics();
    assert.match(text, /^criscope_cri_calls_total\{service="other",method="other",code="UNIMPLEMENTED"\} 51$/m);
    assert.equal(text.match(/^criscope_cri_calls_total\{/gm)?.length, 1);
    assert.doesNotMatch(text, /attacker|NotInTheProto/);
  });

  it('counts a call whose request cannot be decoded as a decode failure', async () => {
    const registry = new Registry();
    const metrics = new CallMetrics(registry, criTable, () => []);
    const method = criMethod('StopPodSandbox');
    const garbage = Buffer.from([0x3f, 0x01]);
    const request: CallTraffic = { messages: 1, payloadBytes: garbage.length, first: { compressed: false, payload: garbage }, encoding: undefined };
    metrics.onCall(new CallRecord({ ...callFacts(method), durationSeconds: 0.001, grpcStatus: 0, request }));
    const text = await registry.metrics();
    assert.match(text, /^criscope_decode_failures_total\{direction="request"\} 1$/m);
    assert.match(text, /^criscope_decode_failures_total\{direction="response"\} 0$/m);
  });
});
