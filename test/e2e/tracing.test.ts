import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sensitiveHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Metadata } from '@grpc/grpc-js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, criMethod, statusOf } from '../support/cri-client.js';
import { scrape, total } from '../support/metrics-scrape.js';
import { OtlpReceiver, SPAN_KIND, STATUS_CODE, type ReceivedSpan } from '../support/otlp-receiver.js';
import { grpcFrame, rawCall } from '../support/raw-h2.js';
import { testRuntime } from '../support/runtime-env.js';
import { echoBehindCriscope } from '../support/echo-fixture.js';
import { startEchoServer, type EchoServer } from '../support/echo-h2-server.js';
import { RawH2Client } from '../support/raw-h2-client.js';
import { waitFor } from '../support/wait.js';
import { hostNetworkPodConfig, startSleeper } from '../support/pods.js';
import { exchangeRaw } from '../support/raw-socket.js';
import { policyFile } from '../support/policy-env.js';
import { encodeHeaderBlock } from '../../src/relay/hpack/encoder.js';
import { Literal, literalField } from '../support/hpack-bytes.js';
import { buildFrame, CLIENT_PREFACE, Flag, FrameType, settingsFrame } from '../../src/relay/http2-frames.js';

// No OpenTelemetry Collector runs here: the test OTLP receiver (checked against the real
// exporter in test/unit/otlp-receiver.test.ts) stands in for one.

const VERSION_PATH = '/runtime.v1.RuntimeService/Version';

function versionBody(): Buffer {
  const type = criMethod('Version').requestType;
  return grpcFrame(type.encode(type.fromObject({ version: 'v1' })).finish());
}

function traceparent(sampled: boolean): { header: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`, traceId, spanId };
}

/** The header fields of a request as the runtime received them, traceparent aside. */
function withoutTraceparent(rawHeaders: readonly string[]): string[] {
  const fields: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index] !== 'traceparent') fields.push(rawHeaders[index], rawHeaders[index + 1]);
  }
  return fields;
}

function headerOf(rawHeaders: readonly string[], name: string): string | undefined {
  const index = rawHeaders.findIndex((value, at) => at % 2 === 0 && value === name);
  return index < 0 ? undefined : rawHeaders[index + 1];
}

function tracingConfig(receiver: OtlpReceiver, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { tracing: { enabled: true, endpoint: receiver.endpoint, exportDelayMillis: 50, ...extra } };
}

describe('spans continue the client trace context, and the runtime gets criscope as parent', () => {
  // The runtime's side must show the exact metadata it received, which containerd cannot: an HTTP/2 echo peer stands in.
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await OtlpReceiver.start();
  });
  after(async () => {
    await receiver.close();
  });
  const fixture = echoBehindCriscope(() => ({ config: { ...tracingConfig(receiver), nodeName: 'node-a' } }));

  /** The same call fixture.direct and through fixture.criscope; returns what the runtime received of each. */
  async function bothWays(headers: OutgoingHttpHeaders): Promise<{ relayed: string[]; straight: string[] }> {
    await rawCall(fixture.viaCriscope, VERSION_PATH, versionBody(), headers);
    const relayed = fixture.echo.requests[fixture.echo.requests.length - 1].rawHeaders;
    await rawCall(fixture.direct, VERSION_PATH, versionBody(), headers);
    const straight = fixture.echo.requests[fixture.echo.requests.length - 1].rawHeaders;
    return { relayed, straight };
  }

  it('re-parents traceparent and changes no other field, call after call on one connection', async () => {
    const calls = [traceparent(true), undefined, traceparent(true), undefined, traceparent(true)];
    const spanIdsGiven: string[] = [];
    for (const [index, parent] of calls.entries()) {
      const headers: OutgoingHttpHeaders = { 'user-agent': 'kubelet/v1.36.0', 'x-call': String(index) };
      if (parent !== undefined) Object.assign(headers, { traceparent: parent.header, tracestate: 'vendor=a,other=b' });
      const { relayed, straight } = await bothWays(headers);
      assert.deepEqual(withoutTraceparent(relayed), withoutTraceparent(straight), `call ${index}: every field but traceparent as the client sent it`);
      if (parent === undefined) {
        assert.equal(headerOf(relayed, 'traceparent'), undefined, `call ${index}: no traceparent is added`);
        continue;
      }
      const forwarded = headerOf(relayed, 'traceparent') ?? '';
      const [version, traceId, spanId, flags] = forwarded.split('-');
      assert.deepEqual([version, traceId, flags], ['00', parent.traceId, '01'], `call ${index}: same trace, same sampled flag`);
      assert.notEqual(spanId, parent.spanId, 'the runtime gets a new parent');
      spanIdsGiven.push(spanId);
    }
    const spans = await receiver.waitForSpans((received) => spanIdsGiven.every((id) => received.some((span) => span.spanId === id)));
    for (const [index, parent] of calls.filter((call) => call !== undefined).entries()) {
      const span = spans.find((candidate) => candidate.spanId === spanIdsGiven[index]) as ReceivedSpan;
      assert.equal(span.traceId, parent.traceId);
      assert.equal(span.parentSpanId, parent.spanId, "criscope's span is the client's child");
      assert.equal(span.traceState, 'vendor=a,other=b');
      assert.equal(span.name, 'runtime.v1.RuntimeService/Version');
      assert.equal(span.kind, SPAN_KIND.SERVER);
      assert.deepEqual(
        { system: span.attributes['rpc.system'], service: span.attributes['rpc.service'], method: span.attributes['rpc.method'], code: span.attributes['rpc.grpc.status_code'] },
        { system: 'grpc', service: 'runtime.v1.RuntimeService', method: 'Version', code: 0 },
      );
      assert.equal(span.status.code, STATUS_CODE.UNSET);
      assert.equal(span.resource['service.name'], 'criscope');
      assert.equal(span.resource['k8s.node.name'], 'node-a');
      assert.equal(typeof span.resource['service.version'], 'string');
      assert.ok(span.endTimeUnixNano >= span.startTimeUnixNano);
    }
  });

  it('re-parents a block split across CONTINUATION frames, and splits one that outgrows a frame', async () => {
    const parent = traceparent(true);
    const long = 'x'.repeat(20_000);
    const fields = (extra: [string, string][]): [string, string][] => [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', VERSION_PATH],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ...extra,
    ];
    const split = encodeHeaderBlock(fields([['traceparent', parent.header], ['x-before', 'one']]));
    const third = Math.floor(split.length / 3);
    const big = encodeHeaderBlock(fields([['x-long', long], ['traceparent', traceparent(true).header]]));
    const bytes = Buffer.concat([
      CLIENT_PREFACE,
      settingsFrame(false),
      buildFrame(FrameType.HEADERS, 0, 1, split.subarray(0, third)),
      buildFrame(FrameType.CONTINUATION, 0, 1, split.subarray(third, 2 * third)),
      buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, split.subarray(2 * third)),
      buildFrame(FrameType.DATA, Flag.END_STREAM, 1, versionBody()),
      buildFrame(FrameType.HEADERS, 0, 3, big.subarray(0, 16_000)),
      buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, big.subarray(16_000)),
      buildFrame(FrameType.DATA, Flag.END_STREAM, 3, versionBody()),
    ]);
    const before = fixture.echo.requests.length;
    await exchangeRaw(fixture.criscope.socketPath, bytes, 1000);
    const [first, second] = fixture.echo.requests.slice(before).map((request) => request.rawHeaders);
    assert.ok(first !== undefined && second !== undefined, 'both requests reached the runtime');
    assert.match(headerOf(first, 'traceparent') ?? '', new RegExp(`^00-${parent.traceId}-(?!${parent.spanId})[0-9a-f]{16}-01$`));
    assert.equal(headerOf(first, 'x-before'), 'one');
    assert.equal(headerOf(second, 'x-long'), long);
    assert.notEqual(headerOf(second, 'traceparent'), undefined);
  });

  it('keeps never-indexed fields never indexed in the block it re-parents (RFC 7541 §6.2.3)', async () => {
    const parent = traceparent(true);
    // authorization has a static-table name, x-secret-token a literal one; x-plain stays an ordinary field.
    const headers: OutgoingHttpHeaders & { [sensitiveHeaders]: string[] } = {
      traceparent: parent.header,
      authorization: 'Bearer token-1',
      'x-secret-token': 'secret-1',
      'x-plain': 'plain-1',
      [sensitiveHeaders]: ['authorization', 'x-secret-token'],
    };
    await rawCall(fixture.viaCriscope, VERSION_PATH, versionBody(), headers);
    const relayed = fixture.echo.requests[fixture.echo.requests.length - 1];
    await rawCall(fixture.direct, VERSION_PATH, versionBody(), headers);
    const straight = fixture.echo.requests[fixture.echo.requests.length - 1];
    assert.deepEqual([...straight.neverIndexed].sort(), ['authorization', 'x-secret-token'], 'the client marks both fields never indexed');
    assert.deepEqual([...relayed.neverIndexed].sort(), ['authorization', 'x-secret-token'], 'the runtime gets them never indexed through criscope too');
    assert.notEqual(headerOf(relayed.rawHeaders, 'traceparent'), parent.header, 'the block was re-encoded (re-parented)');
    assert.deepEqual(withoutTraceparent(relayed.rawHeaders), withoutTraceparent(straight.rawHeaders));
  });

  it('follows an unsampled parent: the runtime sees flags 00 and no span is exported, unless the call fails', async () => {
    const quiet = traceparent(false);
    const { relayed } = await bothWays({ traceparent: quiet.header });
    assert.match(headerOf(relayed, 'traceparent') ?? '', new RegExp(`^00-${quiet.traceId}-[0-9a-f]{16}-00$`));

    fixture.echo.answer = () => ({ headers: { 'grpc-status': '14', 'grpc-message': 'runtime%20restarting' } });
    const failing = traceparent(false);
    try {
      await rawCall(fixture.viaCriscope, VERSION_PATH, versionBody(), { traceparent: failing.header });
    } finally {
      fixture.echo.answer = () => ({ headers: { ':status': 200, 'content-type': 'application/grpc' }, trailers: { 'grpc-status': '0' } });
    }
    const spans = await receiver.waitForSpans((received) => received.some((span) => span.traceId === failing.traceId));
    const failed = spans.find((span) => span.traceId === failing.traceId) as ReceivedSpan;
    assert.equal(failed.status.code, STATUS_CODE.ERROR);
    assert.equal(failed.status.message, 'runtime restarting');
    assert.equal(failed.attributes['rpc.grpc.status_code'], 14);
    assert.equal(
      spans.some((span) => span.traceId === quiet.traceId),
      false,
      'the unsampled successful call is not exported',
    );
  });
});

describe('a runtime that lowers SETTINGS_HEADER_TABLE_SIZE, while criscope re-parents requests', () => {
  let receiver: OtlpReceiver;
  let echo: EchoServer;
  let criscope: CriscopeProcess;
  before(async () => {
    receiver = await OtlpReceiver.start();
    const echoSocket = join(mkdtempSync(join(tmpdir(), 'criscope-echo-')), 'echo.sock');
    echo = await startEchoServer(echoSocket, { headerTableSize: 1024 });
    criscope = await startCriscope({ runtimeSocket: echoSocket, config: tracingConfig(receiver) });
  });
  after(async () => {
    assert.equal(await criscope.stop(), 0);
    await echo.close();
    await receiver.close();
  });

  /**
   * A request block that first sets the client's table to 4096 octets, as an encoder may until it
   * applies the runtime's 1024; its traceparent indexed (entering both tables) or not.
   */
  function resizingBlock(parent: string, indexed: boolean): Buffer {
    const fields: [string, string][] = [[':method', 'POST'], [':scheme', 'http'], [':path', VERSION_PATH], [':authority', 'localhost'], ['content-type', 'application/grpc'], ['te', 'trailers']];
    const traceparentField = indexed ? literalField(Literal.WITH_INDEXING, 'traceparent', parent) : encodeHeaderBlock([['traceparent', parent]]);
    return Buffer.concat([Buffer.from([0x3f, 0xe1, 0x1f]), encodeHeaderBlock(fields), traceparentField]);
  }

  /** Sends one request under the old limit, acknowledges the new one, then sends a block that breaks it. */
  async function overstepAfterAck(client: RawH2Client, indexed: boolean): Promise<number> {
    client.write(Buffer.concat([CLIENT_PREFACE, settingsFrame(false)]));
    // The runtime's SETTINGS has passed criscope; the client has not acknowledged it yet.
    await client.waitForFrame((type, flags) => type === FrameType.SETTINGS && (flags & Flag.ACK) === 0);
    const before = echo.requests.length;
    const parent = traceparent(true);
    client.write(Buffer.concat([buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, resizingBlock(parent.header, indexed)), buildFrame(FrameType.DATA, Flag.END_STREAM, 1, versionBody())]));
    await client.waitForFrame((type, flags, streamId) => type === FrameType.HEADERS && streamId === 1 && (flags & Flag.END_STREAM) !== 0);
    const forwarded = headerOf(echo.requests[before]?.rawHeaders ?? [], 'traceparent') ?? '';
    assert.match(forwarded, new RegExp(`^00-${parent.traceId}-(?!${parent.spanId})[0-9a-f]{16}-01$`), 'criscope read the block and re-parented it');
    // Acknowledged: the client's encoder now works under 1024, and a block asking for more cannot be followed.
    client.write(Buffer.concat([settingsFrame(true), buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 3, resizingBlock(traceparent(true).header, indexed)), buildFrame(FrameType.DATA, Flag.END_STREAM, 3, versionBody())]));
    // A GOAWAY ends it, from criscope or from the runtime; or the connection just closes.
    await client.waitForFrame((type) => type === FrameType.GOAWAY).catch(() => undefined);
    return before;
  }

  it('relays a block past the acknowledged limit unread, as without tracing, and the runtime refuses it', async () => {
    const client = new RawH2Client(criscope.socketPath);
    try {
      const before = await overstepAfterAck(client, false);
      await waitFor(
        () => criscope.logLines().some((line) => line['msg'] === 'cannot follow a client connection; relaying it without call records' && /4096 exceeds the allowed 1024/.test(String(line['reason']))),
        'criscope to log that it relays the connection unread',
      );
      assert.equal(echo.requests.length, before + 1, 'the runtime took no second request');
    } finally {
      client.destroy();
    }
  });

  it("closes the connection itself when the runtime's table holds criscope's traceparent: unread blocks could not be spliced", async () => {
    const client = new RawH2Client(criscope.socketPath);
    try {
      const before = await overstepAfterAck(client, true);
      // The log line may reach the test a little after the connection closed.
      await waitFor(
        () => criscope.logLines().some((line) => line['msg'] === 'cannot follow a connection whose requests are spliced or judged; closing it' && /4096 exceeds the allowed 1024/.test(String(line['reason']))),
        'criscope to log why it closed the connection',
      );
      assert.equal(echo.requests.length, before + 1, 'the second request never reached the runtime');
    } finally {
      client.destroy();
    }
  });
});

describe('the newer RPC conventions on request (OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup)', () => {
  const runtime = testRuntime();
  let receiver: OtlpReceiver;
  let criscope: CriscopeProcess;
  let client: CriTestClient;

  before(async () => {
    receiver = await OtlpReceiver.start();
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: tracingConfig(receiver), env: { OTEL_SEMCONV_STABILITY_OPT_IN: 'rpc/dup' } });
    client = new CriTestClient(criscope.socketPath);
  });

  after(async () => {
    client.close();
    assert.equal(await criscope.stop(), 0);
    await receiver.close();
  });

  it('carries both attribute sets, and error.type on a server error', async () => {
    await client.call('Version', { version: 'v1' });
    await assert.rejects(client.call('ContainerStats', { container_id: 'missing' }));
    const spans = await receiver.waitForSpans((received) => received.length >= 2);
    const version = spans.find((span) => span.name === 'runtime.v1.RuntimeService/Version') as ReceivedSpan;
    assert.deepEqual(
      [version.attributes['rpc.system.name'], version.attributes['rpc.method'], version.attributes['rpc.response.status_code'], version.attributes['rpc.system']],
      ['grpc', 'runtime.v1.RuntimeService/Version', 'OK', 'grpc'],
    );
    assert.equal(version.attributes['error.type'], undefined);
    const stats = spans.find((span) => span.name === 'runtime.v1.RuntimeService/ContainerStats') as ReceivedSpan;
    assert.equal(stats.attributes['rpc.response.status_code'], 'NOT_FOUND');
    assert.equal(stats.status.code, STATUS_CODE.UNSET, 'NOT_FOUND is not a server error');
  });
});

describe('a policy decision on the call span', () => {
  const runtime = testRuntime();
  let receiver: OtlpReceiver;
  let criscope: CriscopeProcess;
  let client: CriTestClient;

  before(async () => {
    receiver = await OtlpReceiver.start();
    const policy = policyFile({ rules: [{ kind: 'images', allowed: ['registry.example.com/**'] }] });
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: { ...tracingConfig(receiver, { samplingRatio: 0 }), policyFile: policy } });
    client = new CriTestClient(criscope.socketPath);
  });

  after(async () => {
    client.close();
    assert.equal(await criscope.stop(), 0);
    await receiver.close();
  });

  it('records a denial as an event with the rule and reason, exported although the trace is not sampled', async () => {
    const parent = traceparent(false);
    const metadata = new Metadata();
    metadata.set('traceparent', parent.header);
    const denied = await client.call('PullImage', { image: { image: runtime.pullOnlyImage } }, { metadata }).catch((error: unknown) => error);
    assert.equal(statusOf(denied), 7);
    const spans = await receiver.waitForSpans((received) => received.some((span) => span.traceId === parent.traceId));
    const span = spans.find((candidate) => candidate.traceId === parent.traceId) as ReceivedSpan;
    assert.equal(span.name, 'runtime.v1.ImageService/PullImage');
    assert.equal(span.attributes['criscope.policy.result'], 'denied');
    assert.equal(span.attributes['rpc.grpc.status_code'], 7);
    assert.deepEqual(
      span.events.map((event) => [event.name, event.attributes['criscope.policy.rule'], event.attributes['criscope.policy.action'], event.attributes['criscope.policy.mode']]),
      [['criscope.policy.violation', 'images.allowed', 'deny', 'enforce']],
    );
    assert.match(String(span.events[0]?.attributes['criscope.policy.reason']), /is not in an allowed registry or repository/);
  });
});

describe('without a client trace context, the calls of one pod start share a trace', () => {
  const runtime = testRuntime();
  let receiver: OtlpReceiver;
  let criscope: CriscopeProcess;
  let client: CriTestClient;
  let sandboxId = '';

  before(async () => {
    receiver = await OtlpReceiver.start();
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: { ...tracingConfig(receiver), podStart: { settleSeconds: 1 } } });
    client = new CriTestClient(criscope.socketPath);
  });

  after(async () => {
    if (sandboxId !== '') {
      await client.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
      await client.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    }
    client.close();
    assert.equal(await criscope.stop(), 0);
    await receiver.close();
  });

  it('joins RunPodSandbox, PullImage, CreateContainer and StartContainer under one PodStart span', async () => {
    const podConfig = hostNetworkPodConfig('traced');
    const uid = (podConfig['metadata'] as { uid: string }).uid;
    ({ pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config: podConfig, runtime_handler: runtime.runtimeHandler })) as { pod_sandbox_id: string });
    await client.call('PullImage', { image: { image: runtime.pullOnlyImage }, sandbox_config: podConfig });
    const containerId = await startSleeper(client, sandboxId, podConfig, runtime.busyboxImage);

    const spans = await receiver.waitForSpans((received) => received.some((span) => span.name === 'PodStart' && span.attributes['k8s.pod.uid'] === uid), 15_000);
    const root = spans.find((span) => span.name === 'PodStart' && span.attributes['k8s.pod.uid'] === uid) as ReceivedSpan;
    assert.equal(root.parentSpanId, '');
    assert.deepEqual(
      [root.attributes['k8s.pod.name'], root.attributes['k8s.namespace.name'], root.attributes['criscope.pod_start.result'], root.attributes['criscope.pod_start.containers']],
      ['traced', 'criscope-e2e', 'started', 1],
    );
    const inTrace = (name: string): ReceivedSpan => {
      const span = spans.find((candidate) => candidate.traceId === root.traceId && candidate.name === `runtime.v1.${name}`);
      assert.ok(span !== undefined, `${name} is in the pod start's trace`);
      assert.equal(span.parentSpanId, root.spanId, `${name} is the pod start's child`);
      assert.equal(span.kind, SPAN_KIND.SERVER);
      return span;
    };
    const run = inTrace('RuntimeService/RunPodSandbox');
    assert.equal(run.attributes['sandbox.id'], sandboxId);
    assert.equal(run.attributes['k8s.pod.uid'], uid);
    const pull = inTrace('ImageService/PullImage');
    assert.equal(pull.attributes['container.image.name'], runtime.pullOnlyImage.replace(/:[^:/]+$/, ''));
    const create = inTrace('RuntimeService/CreateContainer');
    assert.deepEqual([create.attributes['k8s.container.name'], create.attributes['container.id']], ['app', containerId]);
    const start = inTrace('RuntimeService/StartContainer');
    assert.deepEqual([start.attributes['container.id'], start.attributes['k8s.pod.name']], [containerId, 'traced']);
    // Each span turns the relay's monotonic clock into wall time on its own, so allow a millisecond between them.
    const slack = 1_000_000n;
    assert.ok(root.startTimeUnixNano <= run.startTimeUnixNano + slack && root.endTimeUnixNano + slack >= start.endTimeUnixNano, 'the pod start spans its calls');
  });

  it('a call with a trace context stays in that trace, even within a pod start', async () => {
    const parent = traceparent(true);
    const metadata = new Metadata();
    metadata.set('traceparent', parent.header);
    await client.call('PodSandboxStatus', { pod_sandbox_id: sandboxId }, { metadata });
    const spans = await receiver.waitForSpans((received) => received.some((span) => span.traceId === parent.traceId));
    const status = spans.find((span) => span.traceId === parent.traceId) as ReceivedSpan;
    assert.equal(status.parentSpanId, parent.spanId);
    assert.equal(status.attributes['sandbox.id'], sandboxId);
    assert.equal(status.attributes['k8s.pod.name'], 'traced');
  });
});

describe('a pod start still open when criscope stops', () => {
  const runtime = testRuntime();

  it('is exported as it stands, marked interrupted', async () => {
    const receiver = await OtlpReceiver.start();
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: tracingConfig(receiver) });
    const client = new CriTestClient(criscope.socketPath);
    const direct = new CriTestClient(runtime.containerdSocket);
    const podConfig = hostNetworkPodConfig('interrupted');
    const uid = (podConfig['metadata'] as { uid: string }).uid;
    let sandboxId = '';
    try {
      ({ pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config: podConfig, runtime_handler: runtime.runtimeHandler })) as { pod_sandbox_id: string });
      await waitFor(() => criscope.logLines().some((line) => line['method'] === 'RunPodSandbox'), 'the call to be recorded');
      client.close();
      assert.equal(await criscope.stop(), 0);
      const spans = await receiver.waitForSpans((received) => received.some((span) => span.name === 'PodStart'));
      const root = spans.find((span) => span.name === 'PodStart') as ReceivedSpan;
      assert.deepEqual([root.attributes['k8s.pod.uid'], root.attributes['criscope.pod_start.result']], [uid, 'interrupted']);
    } finally {
      if (sandboxId !== '') {
        await direct.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
        await direct.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
      }
      direct.close();
      await receiver.close();
    }
  });
});

describe('a collector that is down, refusing or hanging never fails a call', () => {
  const runtime = testRuntime();

  for (const behaviour of ['down', 'refuse', 'hang'] as const) {
    it(`${behaviour}: every call succeeds, and the spans that cannot go are dropped and counted`, async () => {
      const receiver = await OtlpReceiver.start({ behaviour: behaviour === 'down' ? 'accept' : behaviour });
      const endpoint = receiver.endpoint;
      if (behaviour === 'down') await receiver.close();
      const maxQueueSize = 64;
      const criscope = await startCriscope({
        runtimeSocket: runtime.containerdSocket,
        config: { tracing: { enabled: true, endpoint, exportDelayMillis: 20, maxQueueSize, maxExportBatchSize: 16, timeoutSeconds: 1 } },
        logLevel: 'info',
      });
      const client = new CriTestClient(criscope.socketPath);
      try {
        const calls = 600;
        for (let batch = 0; batch < calls / 50; batch++) {
          const answers = await Promise.all(Array.from({ length: 50 }, () => client.call('Version', { version: 'v1' })));
          assert.ok(answers.every((answer) => answer['runtime_name'] === 'containerd'));
        }
        // Every span is either waiting (at most the queue's bound) or dropped: memory stays bounded.
        await waitFor(
          async () => {
            const samples = await scrape(criscope.httpUrl);
            return total(samples, 'criscope_spans_dropped_total') >= calls - maxQueueSize && total(samples, 'criscope_spans_dropped_total', { reason: 'export_failed' }) > 0;
          },
          'drops to be counted',
          15_000,
        );
        const samples = await scrape(criscope.httpUrl);
        assert.equal(total(samples, 'criscope_spans_exported_total'), 0);
        assert.equal(total(samples, 'criscope_cri_calls_total', { method: 'Version', code: 'OK' }), calls);
        const warnings = criscope.logLines().filter((line) => line['msg'] === 'span export failing; spans are dropped and counted until it works');
        assert.equal(warnings.length, 1, 'the failure is logged once, not per batch');
      } finally {
        client.close();
        assert.equal(await criscope.stop(), 0, 'criscope stops promptly and cleanly even with spans it could not send');
        await receiver.close();
      }
    });
  }

  it('a collector that comes back gets spans again', async () => {
    const receiver = await OtlpReceiver.start({ behaviour: 'refuse' });
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: tracingConfig(receiver), logLevel: 'info' });
    const client = new CriTestClient(criscope.socketPath);
    try {
      await client.call('Version', { version: 'v1' });
      await waitFor(async () => total(await scrape(criscope.httpUrl), 'criscope_spans_dropped_total', { reason: 'export_failed' }) >= 1, 'a failed export');
      receiver.behaviour = 'accept';
      await client.call('Status', {});
      await receiver.waitForSpans((spans) => spans.some((span) => span.name === 'runtime.v1.RuntimeService/Status'));
      await waitFor(() => criscope.logLines().some((line) => line['msg'] === 'span export works again'), 'the recovery to be logged');
    } finally {
      client.close();
      await criscope.stop();
      await receiver.close();
    }
  });
});

describe('with tracing off, nothing about a call changes', () => {
  it('a call that fails with the runtime unreachable is still answered by criscope', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'criscope-none-')), 'none.sock');
    const criscope = await startCriscope({ runtimeSocket: missing });
    const client = new CriTestClient(criscope.socketPath);
    try {
      const error = await client.call('Version', { version: 'v1' }).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      assert.equal(statusOf(error), 14);
    } finally {
      client.close();
      await criscope.stop();
    }
  });
});
