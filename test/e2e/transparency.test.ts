import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { criMethod } from '../support/cri-client.js';
import { grpcFrame, openH2, rawCall, type RawExchange } from '../support/raw-h2.js';
import { testRuntime } from '../support/runtime-env.js';
import { echoBehindCriscope } from '../support/echo-fixture.js';
import { RawConnection, type RawFrame } from '../support/raw-socket.js';
import { data, headers, settings, SETTINGS_ACK, uint32, windowUpdate } from '../support/test-frames.js';
import { waitFor } from '../support/wait.js';
import { encodeHeaderBlock } from '../../src/relay/hpack/encoder.js';
import { CLIENT_PREFACE, Flag, FrameType, Setting } from '../../src/relay/http2-frames.js';

const MIB = 1024 * 1024;

/** What a client can observe of one call; equal for the direct and the relayed call. */
function observable(exchange: RawExchange): unknown {
  return { rawHeaders: exchange.rawHeaders, data: exchange.data.toString('base64'), rawTrailers: exchange.rawTrailers, rstCode: exchange.rstCode };
}

function encode(method: string, message: Record<string, unknown>): Buffer {
  const type = criMethod(method).requestType;
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}

describe('the same call direct and through criscope, against the real containerd', () => {
  const runtime = testRuntime();
  let criscope: CriscopeProcess;
  let viaCriscope: ClientHttp2Session;
  let direct: ClientHttp2Session;

  before(async () => {
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket });
    viaCriscope = openH2(criscope.socketPath);
    direct = openH2(runtime.containerdSocket);
  });

  after(async () => {
    viaCriscope.close();
    direct.close();
    await criscope.stop();
  });

  // Calls whose answer does not change from one moment to the next (ListImages' order does).
  const cases: { name: string; path: string; body: Buffer }[] = [
    { name: 'Version', path: '/runtime.v1.RuntimeService/Version', body: grpcFrame(encode('Version', { version: 'v1' })) },
    { name: 'Status', path: '/runtime.v1.RuntimeService/Status', body: grpcFrame(encode('Status', {})) },
    { name: 'ImageStatus', path: '/runtime.v1.ImageService/ImageStatus', body: grpcFrame(encode('ImageStatus', { image: { image: runtime.busyboxImage } })) },
    {
      name: 'ContainerStatus of a missing container (a trailers-only NotFound)',
      path: '/runtime.v1.RuntimeService/ContainerStatus',
      body: grpcFrame(encode('ContainerStatus', { container_id: 'no-such-container' })),
    },
    { name: 'a method our proto does not know', path: '/runtime.v1.RuntimeService/NoSuchMethod', body: grpcFrame(Buffer.alloc(0)) },
    { name: 'runtime.v1alpha2 Version', path: '/runtime.v1alpha2.RuntimeService/Version', body: grpcFrame(encode('Version', { version: 'v1alpha2' })) },
    {
      name: 'runtime.v1alpha2 ImageStatus',
      path: '/runtime.v1alpha2.ImageService/ImageStatus',
      body: grpcFrame(encode('ImageStatus', { image: { image: runtime.busyboxImage } })),
    },
  ];
  for (const { name, path, body } of cases) {
    it(`${name}: identical headers, bytes, trailers and status`, async () => {
      const [relayed, straight] = [await rawCall(viaCriscope, path, body), await rawCall(direct, path, body)];
      assert.deepEqual(observable(relayed), observable(straight));
      const status = relayed.trailers?.['grpc-status'] ?? relayed.headers['grpc-status'];
      assert.ok(status !== undefined, 'a grpc-status came back');
    });
  }

  it('unknown and v1alpha2 calls really reach the runtime and come back with its answer', async () => {
    const unknown = await rawCall(viaCriscope, '/runtime.v1.RuntimeService/NoSuchMethod', grpcFrame(Buffer.alloc(0)));
    assert.equal(unknown.headers['grpc-status'] ?? unknown.trailers?.['grpc-status'], '12');
    assert.match(String(unknown.headers['grpc-message'] ?? unknown.trailers?.['grpc-message']), /NoSuchMethod/);
    const alpha = await rawCall(viaCriscope, '/runtime.v1alpha2.RuntimeService/Version', grpcFrame(encode('Version', { version: 'v1alpha2' })));
    assert.equal(alpha.trailers?.['grpc-status'], '0');
    const version = criMethod('Version').responseType.decode(alpha.data.subarray(5)) as unknown as { runtime_name: string; runtime_api_version: string };
    assert.equal(version.runtime_name, 'containerd');
    assert.equal(version.runtime_api_version, 'v1alpha2');
  });
});

describe('metadata, trailers and large messages pass unchanged', () => {
  // containerd cannot report the metadata it received or be told how to answer,
  // so a bare HTTP/2 peer stands in for it here.
  const fixture = echoBehindCriscope(() => ({ extraArgs: ['--max-message-bytes', String(32 * MIB)] }));

  it('passes request metadata unchanged: trace context, deadline, user agent, repeated and -bin keys', async () => {
    const metadata: OutgoingHttpHeaders = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=value',
      'grpc-timeout': '1999m',
      'user-agent': 'kubelet/v1.36.0 grpc-go/1.72.0',
      'x-custom': ['first', 'second'],
      'x-context-bin': ['AAEC', 'AwQF'],
    };
    const body = grpcFrame(encode('Version', { version: 'v1' }));
    await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/Version', body, metadata);
    await rawCall(fixture.direct, '/runtime.v1.RuntimeService/Version', body, metadata);
    const [relayed, straight] = fixture.echo.requests.slice(-2) as [typeof fixture.echo.requests[0], typeof fixture.echo.requests[0]];
    assert.deepEqual(relayed.rawHeaders, straight.rawHeaders);
    assert.deepEqual(relayed.body, body);
    const xContext = relayed.rawHeaders.flatMap((value, index) => (relayed.rawHeaders[index - 1] === 'x-context-bin' && index % 2 === 1 ? [value] : []));
    assert.deepEqual(xContext, ['AAEC', 'AwQF'], 'each -bin value arrives as its own field');
  });

  it('passes response headers and trailers unchanged, repeated and -bin ones included', async () => {
    const reply = grpcFrame(randomBytes(300));
    fixture.echo.answer = () => ({
      headers: { 'x-served-by': ['a', 'b'], 'x-response-bin': 'AQID' },
      trailers: { 'grpc-status': '0', 'grpc-message': 'all%20good', 'x-trailer': ['t1', 't2'], 'grpc-status-details-bin': 'CAUSBm5vcGU' },
      body: reply,
    });
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/Version', grpcFrame(Buffer.alloc(0)));
    const straight = await rawCall(fixture.direct, '/runtime.v1.RuntimeService/Version', grpcFrame(Buffer.alloc(0)));
    assert.deepEqual(observable(relayed), observable(straight));
    assert.deepEqual(relayed.data, reply);
    assert.deepEqual(relayed.rawTrailers?.filter((_, index, all) => all[index - 1] === 'x-trailer'), ['t1', 't2']);
  });

  it('passes a trailers-only error answer unchanged', async () => {
    fixture.echo.answer = () => ({ headers: { 'grpc-status': '5', 'grpc-message': 'container%20%22x%22%20not%20found', 'grpc-status-details-bin': 'CAUSBm5vcGU' } });
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/ContainerStatus', grpcFrame(Buffer.alloc(0)));
    const straight = await rawCall(fixture.direct, '/runtime.v1.RuntimeService/ContainerStatus', grpcFrame(Buffer.alloc(0)));
    assert.deepEqual(observable(relayed), observable(straight));
    assert.equal(relayed.headers['grpc-status'], '5');
    assert.equal(relayed.trailers, undefined, 'no separate trailers frame');
  });

  it('passes a reset from the runtime on to the client, with its code', async () => {
    fixture.echo.answer = () => ({ reset: 0x2 });
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/Version', grpcFrame(Buffer.alloc(0)));
    assert.equal(relayed.rstCode, 0x2, 'INTERNAL_ERROR, as the runtime sent it');
    await waitFor(() => fixture.criscope.logLines().some((line) => line['method'] === 'Version' && line['resetCode'] === 2));
  });

  it('relays 20 MiB messages each way byte for byte', async () => {
    fixture.echo.answer = (request) => ({ trailers: { 'grpc-status': '0' }, body: request.body });
    const body = grpcFrame(randomBytes(20 * MIB));
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/ListContainers', body);
    assert.equal(relayed.trailers?.['grpc-status'], '0');
    assert.ok(relayed.data.equals(body), 'the echoed 20 MiB message came back unchanged');
    assert.ok((fixture.echo.requests.at(-1)?.body ?? Buffer.alloc(0)).equals(body), 'the runtime side received it unchanged');
  });

  it('passes a large answer byte for byte to a client that leaves its socket unread for a while', async () => {
    // criscope reads the runtime into buffers it reuses; while its writes to this client wait, none may be reused.
    // The runtime writes in small pieces, so criscope reads small chunks while earlier ones still wait to be written.
    const listType = criMethod('ListContainers').responseType;
    const containers = Array.from({ length: 2048 }, () => ({ id: randomBytes(512).toString('hex') }));
    const answer = grpcFrame(listType.encode(listType.fromObject({ containers })).finish());
    fixture.echo.answer = () => ({ trailers: { 'grpc-status': '0' }, body: answer, trickleBytes: 4096 });
    const client = await RawConnection.open(fixture.criscope.socketPath);
    try {
      // Windows wide open: only the unread socket holds the answer back.
      client.send(Buffer.concat([CLIENT_PREFACE, settings([Setting.INITIAL_WINDOW_SIZE, 0x7fffffff]), windowUpdate(0, uint32(0x7fffffff - 65_535))]));
      assert.ok(await client.waitFor((frames) => frames.some((frame) => frame.type === FrameType.SETTINGS && (frame.flags & Flag.ACK) === 0), 5000));
      client.send(SETTINGS_ACK);
      const block = encodeHeaderBlock([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', '/runtime.v1.RuntimeService/ListContainers'],
        [':authority', 'localhost'],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ]);
      client.stopReading();
      client.send(Buffer.concat([headers(1, Flag.END_HEADERS, block), data(1, Flag.END_STREAM, grpcFrame(Buffer.alloc(0)))]));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      client.resumeReading();
      const ended = (frames: RawFrame[]): boolean => frames.some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & Flag.END_STREAM) !== 0);
      assert.ok(await client.waitFor(ended, 20_000), 'the answer ended');
      const received = Buffer.concat(client.frames.filter((frame) => frame.type === FrameType.DATA && frame.streamId === 1).map((frame) => frame.payload));
      assert.equal(received.length, answer.length);
      assert.ok(received.equals(answer), 'every byte as the runtime sent it');
    } finally {
      client.close();
    }
  });

  it('forwards gzip-compressed messages as they are and still decodes them for the record', async () => {
    fixture.echo.answer = () => ({
      headers: { 'grpc-encoding': 'gzip' },
      trailers: { 'grpc-status': '0' },
      body: grpcFrame(gzipSync(criMethod('CreateContainer').responseType.encode({ container_id: 'container-gz' }).finish()), true),
    });
    const request = encode('CreateContainer', {
      pod_sandbox_id: 'sandbox-gz',
      config: { metadata: { name: 'zipped' }, image: { image: 'registry.example/app:1' } },
      sandbox_config: { metadata: { name: 'pod-gz', namespace: 'ns-gz', uid: 'uid-gz' } },
    });
    const body = grpcFrame(gzipSync(request), true);
    await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/CreateContainer', body, { 'grpc-encoding': 'gzip' });
    assert.ok((fixture.echo.requests.at(-1)?.body ?? Buffer.alloc(0)).equals(body), 'the compressed bytes reached the runtime unchanged');
    await waitFor(() => fixture.criscope.logLines().some((line) => line['method'] === 'CreateContainer'));
    const record = fixture.criscope.logLines().find((line) => line['method'] === 'CreateContainer');
    assert.equal(record?.['podName'], 'pod-gz');
    assert.equal(record?.['podNamespace'], 'ns-gz');
    assert.equal(record?.['containerName'], 'zipped');
    assert.equal(record?.['image'], 'registry.example/app:1');
    assert.equal(record?.['containerId'], 'container-gz', 'the gzip-compressed response is decoded too');
  });

  it('logs a message it cannot decode and forwards it all the same', async () => {
    fixture.echo.answer = () => ({ trailers: { 'grpc-status': '0' }, body: grpcFrame(Buffer.alloc(0)) });
    // Field 7 with wire type 7, which protobuf does not have.
    const garbage = grpcFrame(Buffer.from([0x3f, 0x01]));
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/CreateContainer', garbage);
    assert.equal(relayed.trailers?.['grpc-status'], '0');
    assert.ok((fixture.echo.requests.at(-1)?.body ?? Buffer.alloc(0)).equals(garbage));
    await waitFor(() => fixture.criscope.logLines().some((line) => line['msg'] === 'call not decoded' && line['method'] === 'CreateContainer'));
    const metrics = await (await fetch(`${fixture.criscope.httpUrl}/metrics`)).text();
    assert.match(metrics, /^criscope_decode_failures_total\{direction="request"\} 1$/m);
    // The 20 MiB random fixture.echo above was a ListContainers "response" that is not protobuf either.
    assert.match(metrics, /^criscope_decode_failures_total\{direction="response"\} 1$/m);
  });

  it('relays a header block too large for one frame (HEADERS + CONTINUATION) and still records the call', async () => {
    fixture.echo.answer = () => ({ trailers: { 'grpc-status': '0' }, body: grpcFrame(Buffer.alloc(0)) });
    const large = 'x'.repeat(40_000);
    const body = grpcFrame(encode('StopPodSandbox', { pod_sandbox_id: 'sandbox-continued' }));
    const relayed = await rawCall(fixture.viaCriscope, '/runtime.v1.RuntimeService/StopPodSandbox', body, { 'x-large': large });
    assert.equal(relayed.trailers?.['grpc-status'], '0');
    const received = fixture.echo.requests.at(-1)?.rawHeaders ?? [];
    assert.equal(received[received.indexOf('x-large') + 1], large);
    await waitFor(() => fixture.criscope.logLines().some((line) => line['method'] === 'StopPodSandbox' && line['sandboxId'] === 'sandbox-continued'));
  });
});

