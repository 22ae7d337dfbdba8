import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import { HpackDecoder } from '../../src/relay/hpack/decoder.js';
import { encodeHeaderBlock } from '../../src/relay/hpack/encoder.js';
import { CLIENT_PREFACE, Flag, FrameType, Setting } from '../../src/relay/http2-frames.js';
import { criMethod, type Message } from '../support/cri-client.js';
import { echoBehindCriscope, type EchoFixture } from '../support/echo-fixture.js';
import type { EchoRequest } from '../support/echo-h2-server.js';
import { metric, MIB } from '../support/policy-calls.js';
import { policyFile } from '../support/policy-env.js';
import { hostNetworkPodConfig } from '../support/pods.js';
import { grpcFrame } from '../support/raw-h2.js';
import { RawConnection, type RawFrame } from '../support/raw-socket.js';
import { data, headers, settings, SETTINGS_ACK, uint32, windowUpdate } from '../support/test-frames.js';
import { waitFor } from '../support/wait.js';

const LIST_CONTAINERS = '/runtime.v1.RuntimeService/ListContainers';
const POD_SANDBOX_STATUS = '/runtime.v1.RuntimeService/PodSandboxStatus';
const CREATE_CONTAINER = '/runtime.v1.RuntimeService/CreateContainer';
const RESOURCE_EXHAUSTED = 8;
/** The smallest message limit criscope accepts, and a connection budget of two such messages. */
const MAX_MESSAGE_BYTES = 4 * MIB;
const MAX_KEPT_BYTES = 8 * MIB;
/** What each answer stream may receive before the client grants more: the prefix passes criscope, the rest waits. */
const CLIENT_STREAM_WINDOW = 16 * 1024;
const WAIT_MS = 10_000;

const encode = (method: string, direction: 'requestType' | 'responseType', value: Message): Buffer => {
  const type = criMethod(method)[direction];
  return Buffer.from(type.encode(type.fromObject(value)).finish());
};

/** A ListContainersResponse of `count` containers, each with an id of 1 KiB. */
function listAnswer(count: number): Buffer {
  return encode('ListContainers', 'responseType', { containers: Array.from({ length: count }, (_, index) => ({ id: `${index}-`.padEnd(1024, 'x') })) });
}

const BIG_POD = { name: 'big-pod', namespace: 'budget', uid: 'big-pod-uid', attempt: 0 };

/**
 * A PodSandboxStatusResponse of exactly `bytes` bytes, padded in its info map:
 * criscope keeps such an answer whole, to read the pod it names.
 */
function statusAnswerOfSize(bytes: number): Buffer {
  const withInfo = (length: number): Buffer => encode('PodSandboxStatus', 'responseType', { status: { id: 'sandbox', metadata: BIG_POD }, info: { padding: 'x'.repeat(length) } });
  const guess = withInfo(bytes - 64);
  const answer = withInfo(bytes - 64 + (bytes - guess.length));
  assert.equal(answer.length, bytes);
  return answer;
}

/** A CreateContainer the clamp policy lets through unchanged (its memory limit is under the cap). */
const CREATE_REQUEST = grpcFrame(
  encode('CreateContainer', 'requestType', {
    pod_sandbox_id: 'sandbox-on-the-echo-peer',
    config: { metadata: { name: 'budget', attempt: 0 }, image: { image: 'busybox' }, linux: { resources: { memory_limit_in_bytes: 32 * MIB } } },
    sandbox_config: hostNetworkPodConfig('keep-budget'),
  }),
);

const pathOf = (request: EchoRequest): string | undefined => request.rawHeaders[request.rawHeaders.indexOf(':path') + 1];

/** The echo peer answers ListContainers and PodSandboxStatus with the bodies given, and CreateContainer as a runtime would. */
function answerWith(fixture: EchoFixture, bodies: { readonly list?: Buffer; readonly status?: Buffer }): void {
  fixture.echo.answer = (request) => {
    const path = pathOf(request);
    const body = path === LIST_CONTAINERS ? bodies.list : path === POD_SANDBOX_STATUS ? bodies.status : undefined;
    return { trailers: { 'grpc-status': '0' }, body: grpcFrame(body ?? encode('CreateContainer', 'responseType', { container_id: 'created-by-the-echo-peer' })) };
  };
}

/**
 * One client connection (so one keep budget) written frame by frame, whose
 * answer streams may each receive only CLIENT_STREAM_WINDOW bytes until the
 * test grants more: answers can be held in flight through criscope at will.
 */
class BudgetClient {
  private constructor(private readonly connection: RawConnection) {}

  static async open(socketPath: string): Promise<BudgetClient> {
    const connection = await RawConnection.open(socketPath);
    connection.send(Buffer.concat([CLIENT_PREFACE, settings([Setting.INITIAL_WINDOW_SIZE, CLIENT_STREAM_WINDOW]), windowUpdate(0, uint32(256 * MIB))]));
    const runtimeSettings = (frames: RawFrame[]): boolean => frames.some((frame) => frame.type === FrameType.SETTINGS && (frame.flags & Flag.ACK) === 0);
    assert.ok(await connection.waitFor(runtimeSettings, WAIT_MS), "the runtime's SETTINGS");
    connection.send(SETTINGS_ACK);
    return new BudgetClient(connection);
  }

  /** Sends a whole unary call on `streamId`: its headers, then its message in a DATA frame of its own. */
  call(streamId: number, path: string, body: Buffer): void {
    const block = encodeHeaderBlock([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    this.connection.send(Buffer.concat([headers(streamId, Flag.END_HEADERS, block), data(streamId, Flag.END_STREAM, body)]));
  }

  /** Resolves once some of each stream's answer has come through criscope. */
  async answersStarted(streamIds: readonly number[]): Promise<void> {
    const started = (frames: RawFrame[]): boolean => streamIds.every((streamId) => frames.some((frame) => frame.type === FrameType.DATA && frame.streamId === streamId));
    assert.ok(await this.connection.waitFor(started, WAIT_MS), `the answers on streams ${streamIds.join(', ')} started`);
  }

  /** Lets the rest of each stream's answer come. */
  grant(streamIds: readonly number[]): void {
    this.connection.send(Buffer.concat(streamIds.map((streamId) => windowUpdate(streamId, uint32(2 * MAX_MESSAGE_BYTES)))));
  }

  /** The gRPC status and message of the call on `streamId`, once it has ended, and the answer's DATA bytes. */
  async ended(streamId: number): Promise<{ code: number; message: string; answerBytes: number }> {
    const ends = (frame: RawFrame): boolean => frame.type === FrameType.HEADERS && frame.streamId === streamId && (frame.flags & Flag.END_STREAM) !== 0;
    assert.ok(await this.connection.waitFor((frames) => frames.some(ends), WAIT_MS), `the call on stream ${streamId} ended`);
    // HPACK state spans the connection: every header block is decoded, in order.
    const decoder = new HpackDecoder();
    const fields: string[] = [];
    let answerBytes = 0;
    for (const frame of this.connection.frames) {
      if (frame.streamId !== streamId) {
        if (frame.type === FrameType.HEADERS) decoder.decode(frame.payload);
      } else if (frame.type === FrameType.HEADERS) fields.push(...decoder.decode(frame.payload));
      else if (frame.type === FrameType.DATA) answerBytes += frame.payload.length;
    }
    const value = (name: string): string | undefined => {
      const at = fields.indexOf(name);
      return at < 0 ? undefined : fields[at + 1];
    };
    return { code: Number(value('grpc-status')), message: decodeURIComponent(value('grpc-message') ?? ''), answerBytes };
  }

  close(): void {
    this.connection.close();
  }
}

/** Three calls of `path` on one connection whose answers are all in flight through criscope at once; each must arrive whole. */
async function threeAnswersInFlight(fixture: EchoFixture, path: string, answer: Buffer): Promise<void> {
  const client = await BudgetClient.open(fixture.criscope.socketPath);
  try {
    const streams = [1, 3, 5];
    for (const streamId of streams) client.call(streamId, path, grpcFrame(Buffer.alloc(0)));
    // Every answer's prefix has passed criscope before any answer can end.
    await client.answersStarted(streams);
    client.grant(streams);
    for (const streamId of streams) assert.deepEqual(await client.ended(streamId), { code: 0, message: '', answerBytes: 5 + answer.length }, `stream ${streamId}`);
  } finally {
    client.close();
  }
}

const logged = (fixture: EchoFixture, message: string, method: string): Record<string, unknown>[] =>
  fixture.criscope.logLines().filter((line) => line['msg'] === message && line['method'] === method);

describe('a connection keeps at most maxKeptBytesPerConnection for decoding (enforce policy on CreateContainer)', () => {
  const policy = policyFile({ rules: [{ kind: 'resources', maxMemory: '64Mi', action: 'clamp' }] });
  const fixture = echoBehindCriscope(() => ({ config: { policyFile: policy, maxMessageBytes: MAX_MESSAGE_BYTES, maxKeptBytesPerConnection: MAX_KEPT_BYTES } }));

  it('relays every one of several large answers in flight at once, and records the one past the budget as not decoded', async () => {
    // 3 MiB each: two fit the 8 MiB budget together, the third does not.
    const answer = statusAnswerOfSize(3 * MIB);
    answerWith(fixture, { status: answer });
    const failuresBefore = await metric(fixture.criscope.httpUrl, 'criscope_decode_failures_total', { direction: 'response' });
    await threeAnswersInFlight(fixture, POD_SANDBOX_STATUS, answer);
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, 'criscope_decode_failures_total', { direction: 'response' })) === failuresBefore + 1, 'one decode failure counted');
    await waitFor(() => logged(fixture, 'call', 'PodSandboxStatus').length === 2, 'two calls logged as decoded', WAIT_MS);
    assert.deepEqual(
      logged(fixture, 'call', 'PodSandboxStatus').map((line) => line['podName']),
      [BIG_POD.name, BIG_POD.name],
    );
    const notDecoded = logged(fixture, 'call not decoded', 'PodSandboxStatus');
    assert.equal(notDecoded.length, 1);
    assert.match((notDecoded[0]['err'] as { message: string }).message, /cannot decode response of \/runtime\.v1\.RuntimeService\/PodSandboxStatus: not kept for decoding: the connection's kept-bytes limit \(maxKeptBytesPerConnection\) was reached/);
    assert.equal(notDecoded[0]['code'], 'OK');
  });

  it('counts the items of list answers as they pass, keeping none: past the budget and past maxMessageBytes', async () => {
    // 5 MiB each, three in flight at once: more than maxMessageBytes each, and than the budget together.
    const answer = listAnswer(5000);
    answerWith(fixture, { list: answer });
    const failuresBefore = await metric(fixture.criscope.httpUrl, 'criscope_decode_failures_total', { direction: 'response' });
    await threeAnswersInFlight(fixture, LIST_CONTAINERS, answer);
    await waitFor(() => logged(fixture, 'call', 'ListContainers').length === 3, 'three calls logged as decoded', WAIT_MS);
    assert.deepEqual(
      logged(fixture, 'call', 'ListContainers').map((line) => line['items']),
      [5000, 5000, 5000],
    );
    assert.equal(await metric(fixture.criscope.httpUrl, 'criscope_decode_failures_total', { direction: 'response' }), failuresBefore);
  });

  it('answers a CreateContainer it must judge RESOURCE_EXHAUSTED while the budget is taken, and lets it through once it is free', async () => {
    // Two answers of exactly maxMessageBytes take the whole budget while they are in flight.
    answerWith(fixture, { status: statusAnswerOfSize(MAX_MESSAGE_BYTES) });
    const client = await BudgetClient.open(fixture.criscope.socketPath);
    try {
      client.call(1, POD_SANDBOX_STATUS, grpcFrame(Buffer.alloc(0)));
      client.call(3, POD_SANDBOX_STATUS, grpcFrame(Buffer.alloc(0)));
      await client.answersStarted([1, 3]);
      client.call(5, CREATE_CONTAINER, CREATE_REQUEST);
      const refused = await client.ended(5);
      assert.equal(refused.code, RESOURCE_EXHAUSTED);
      assert.equal(
        refused.message,
        `criscope policy "decode": the request cannot be judged: this connection's kept-bytes limit (maxKeptBytesPerConnection, ${MAX_KEPT_BYTES} bytes) was reached`,
      );
      assert.ok(!fixture.echo.requests.some((request) => pathOf(request) === CREATE_CONTAINER && request.body.length > 0), 'the runtime never got the message');

      client.grant([1, 3]);
      for (const streamId of [1, 3]) assert.equal((await client.ended(streamId)).code, 0, `stream ${streamId}`);
      client.call(7, CREATE_CONTAINER, CREATE_REQUEST);
      assert.deepEqual((await client.ended(7)).code, 0);
      assert.deepEqual(
        fixture.echo.requests.filter((request) => pathOf(request) === CREATE_CONTAINER && request.body.length > 0).map((request) => request.body),
        [CREATE_REQUEST],
        'the same request reached the runtime, as it was sent',
      );
    } finally {
      client.close();
    }
  });
});

describe('a CreateContainer past the budget under an audit policy', () => {
  const policy = policyFile({ mode: 'audit', rules: [{ kind: 'resources', maxMemory: '64Mi', action: 'clamp' }] });
  const fixture = echoBehindCriscope(() => ({ config: { policyFile: policy, maxMessageBytes: MAX_MESSAGE_BYTES, maxKeptBytesPerConnection: MAX_KEPT_BYTES } }));
  before(() => answerWith(fixture, { status: statusAnswerOfSize(MAX_MESSAGE_BYTES) }));

  it('goes on unjudged, as any request criscope cannot read does under audit, and is counted as rule decode', async () => {
    const labels = { rule: 'decode', mode: 'audit', method: 'CreateContainer' };
    const client = await BudgetClient.open(fixture.criscope.socketPath);
    try {
      client.call(1, POD_SANDBOX_STATUS, grpcFrame(Buffer.alloc(0)));
      client.call(3, POD_SANDBOX_STATUS, grpcFrame(Buffer.alloc(0)));
      await client.answersStarted([1, 3]);
      client.call(5, CREATE_CONTAINER, CREATE_REQUEST);
      assert.equal((await client.ended(5)).code, 0);
      assert.deepEqual(fixture.echo.requests.find((request) => pathOf(request) === CREATE_CONTAINER)?.body, CREATE_REQUEST);
      client.grant([1, 3]);
      for (const streamId of [1, 3]) assert.equal((await client.ended(streamId)).code, 0, `stream ${streamId}`);
    } finally {
      client.close();
    }
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, 'criscope_policy_decisions_total', labels)) === 1, 'the unjudged request to be counted');
  });
});
