import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { decodeCall, type WireMessage } from '../../src/cri/decode-call.js';
import { buildMethodTable, serviceOfPath } from '../../src/cri/method-table.js';
import { METHOD_SPECS } from '../../src/cri/method-specs.js';
import { loadCriProto } from '../../src/cri/proto-root.js';
import { countFieldOccurrences, FieldCounter } from '../../src/cri/wire.js';
import { criMethod, criTable } from '../support/cri-client.js';

function wire(payload: Buffer, compressed = false): WireMessage {
  return { compressed, payload };
}

function encoded(name: string, direction: 'request' | 'response', message: Record<string, unknown>): WireMessage {
  const method = criMethod(name);
  const type = direction === 'request' ? method.requestType : method.responseType;
  return wire(Buffer.from(type.encode(type.fromObject(message)).finish()));
}

describe('the method table built from proto/', () => {
  it('refuses an identity table that does not fit the proto, naming the method', () => {
    const root = loadCriProto();
    assert.throws(() => buildMethodTable(root, { ...METHOD_SPECS, ListContainers: { responseItems: 'filter' } }), /ListContainers: response has no repeated field "filter"/);
    assert.throws(
      () => buildMethodTable(root, { ...METHOD_SPECS, ListContainers: { responseItems: 'containers', response: { containerId: 'containers' } } }),
      /ListContainers: a response whose items are counted cannot also name identity fields/,
    );
    assert.throws(() => buildMethodTable(root, { ...METHOD_SPECS, NoSuchMethod: {} }), /method table names methods the proto lacks: NoSuchMethod/);
  });

  const methods = [...criTable.methods];

  it('knows all 41 runtime.v1 RPCs, 7 of them server-streaming', () => {
    assert.equal(methods.length, 41);
    assert.deepEqual(
      methods.filter((m) => m.serverStreaming).map((m) => m.name).sort(),
      ['GetContainerEvents', 'StreamContainerStats', 'StreamContainers', 'StreamImages', 'StreamPodSandboxMetrics', 'StreamPodSandboxStats', 'StreamPodSandboxes'],
    );
  });

  it('names the service of any path, known or not', () => {
    assert.equal(serviceOfPath('/runtime.v1alpha2.ImageService/ListImages'), 'runtime.v1alpha2.ImageService');
    assert.equal(serviceOfPath('garbage'), '');
  });

  it('keeps only the messages the record will decode', () => {
    assert.deepEqual([criMethod('CreateContainer').keepsRequest, criMethod('CreateContainer').keepsResponse], [true, true]);
    assert.deepEqual([criMethod('Version').keepsRequest, criMethod('Version').keepsResponse], [false, false]);
    assert.deepEqual([criMethod('ListContainers').keepsRequest, criMethod('ListContainers').keepsResponse], [false, true]);
    assert.equal(criMethod('GetContainerEvents').keepsResponse, false, 'streams are counted, not kept');
  });

  it('does not know paths outside runtime.v1', () => {
    assert.equal(criTable.lookup('/runtime.v1alpha2.RuntimeService/Version'), undefined);
    assert.equal(criTable.lookup('/runtime.v1.RuntimeService/NoSuchMethod'), undefined);
  });

  const cases: { method: string; request?: Record<string, unknown>; response?: Record<string, unknown>; identity: Record<string, unknown>; items?: number }[] = [
    {
      method: 'RunPodSandbox',
      request: { config: { metadata: { name: 'web', namespace: 'shop', uid: 'u-1' }, hostname: 'web' } },
      response: { pod_sandbox_id: 'sb-1' },
      identity: { podName: 'web', podNamespace: 'shop', podUid: 'u-1', sandboxId: 'sb-1' },
    },
    {
      method: 'CreateContainer',
      request: {
        pod_sandbox_id: 'sb-1',
        config: { metadata: { name: 'app' }, image: { image: 'registry.example/app:2' }, envs: [{ key: 'TOKEN', value: Buffer.from('s3cr3t') }] },
        sandbox_config: { metadata: { name: 'web', namespace: 'shop', uid: 'u-1' } },
      },
      response: { container_id: 'c-1' },
      identity: { podName: 'web', podNamespace: 'shop', podUid: 'u-1', sandboxId: 'sb-1', containerName: 'app', image: 'registry.example/app:2', containerId: 'c-1' },
    },
    {
      method: 'ContainerStatus',
      request: { container_id: 'c-1' },
      response: { status: { id: 'c-1', metadata: { name: 'app' }, image: { image: 'busybox' }, exit_code: 137, state: 'CONTAINER_EXITED', reason: 'OOMKilled' } },
      identity: { containerId: 'c-1', containerName: 'app', image: 'busybox', exitCode: 137, containerState: 2, reason: 'OOMKilled' },
    },
    { method: 'ExecSync', request: { container_id: 'c-1' }, response: { exit_code: 0, stdout: Buffer.from('out') }, identity: { containerId: 'c-1', exitCode: 0 } },
    {
      method: 'PullImage',
      request: { image: { image: 'busybox:1' }, auth: { username: 'u', password: 'p' }, sandbox_config: { metadata: { name: 'web', namespace: 'shop', uid: 'u-1' } } },
      response: { image_ref: 'sha256:abc' },
      identity: { image: 'busybox:1', podName: 'web', podNamespace: 'shop', podUid: 'u-1' },
    },
    { method: 'StopPodSandbox', request: { pod_sandbox_id: 'sb-2' }, identity: { sandboxId: 'sb-2' } },
    { method: 'ListContainers', request: {}, response: { containers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] }, identity: {}, items: 3 },
    { method: 'ListPodSandbox', request: {}, response: { items: [] }, identity: {}, items: 0 },
    { method: 'Version', request: { version: 'v1' }, response: { runtime_name: 'containerd' }, identity: {} },
  ];
  it("has every decoder a record needs generated when it is built, so no call generates one on criscope's thread", (context) => {
    // A table of its own: the shared one may have decoded these already.
    const fresh = buildMethodTable(loadCriProto());
    const calls = cases.map(({ method, request, response }) => ({
      method: fresh.lookup(criMethod(method).path) ?? assert.fail(method),
      request: { first: request && encoded(method, 'request', request), encoding: undefined },
      response: { first: response && encoded(method, 'response', response), encoding: undefined },
    }));
    // Type.setup is where protobufjs generates a type's code; the spy still runs it.
    const setup = context.mock.method(protobuf.Type.prototype, 'setup');
    for (const call of calls) assert.equal(decodeCall(call.method, call.request, call.response, 1024 * 1024).error, undefined);
    assert.deepEqual(
      setup.mock.calls.map((generated) => (generated.this as protobuf.Type).name),
      [],
    );
  });

  for (const { method, request, response, identity, items } of cases) {
    it(`reads ${method}'s identity from only the fields the table names`, () => {
      const decoded = decodeCall(
        criMethod(method),
        { first: request && encoded(method, 'request', request), encoding: undefined },
        { first: response && encoded(method, 'response', response), encoding: undefined },
        1024 * 1024,
      );
      assert.equal(decoded.error, undefined);
      assert.deepEqual(decoded.identity, identity);
      assert.equal(decoded.responseItems, items);
    });
  }

  it('takes a list’s items as the relay counted them on the way, and a count cut short as a decode error', () => {
    const counted = new FieldCounter(1);
    counted.push(encoded('ListContainers', 'response', { containers: [{ id: 'a' }, { id: 'b' }] }).payload);
    const decoded = decodeCall(criMethod('ListContainers'), undefined, { first: undefined, encoding: undefined, itemsCounted: counted }, 1024);
    assert.equal(decoded.responseItems, 2);
    assert.equal(decoded.error, undefined);
    const cut = new FieldCounter(1);
    cut.push(Buffer.from([0x0a, 0x05, 0x01]));
    const failed = decodeCall(criMethod('ListContainers'), undefined, { first: undefined, encoding: undefined, itemsCounted: cut }, 1024);
    assert.match(String(failed.error?.message), /cannot decode response of \/runtime\.v1\.RuntimeService\/ListContainers: message ends inside a field/);
  });

  it('reports a malformed message as a decode error without throwing', () => {
    const decoded = decodeCall(criMethod('CreateContainer'), { first: wire(Buffer.from([0x0a, 0xff])), encoding: undefined }, undefined, 1024);
    assert.match(String(decoded.error?.message), /cannot decode request of \/runtime\.v1\.RuntimeService\/CreateContainer/);
  });

  it('reports a compressed message in an unsupported encoding', () => {
    const decoded = decodeCall(criMethod('StopPodSandbox'), { first: wire(Buffer.from([1, 2, 3]), true), encoding: 'snappy' }, undefined, 1024);
    assert.match(String(decoded.error?.message), /unsupported grpc-encoding "snappy"/);
  });

  it('refuses to inflate a compressed message past the size it keeps', () => {
    const bomb = wire(gzipSync(Buffer.alloc(10 * 1024 * 1024)), true);
    const decoded = decodeCall(criMethod('StopPodSandbox'), { first: bomb, encoding: 'gzip' }, undefined, 1024 * 1024);
    assert.match(String(decoded.error?.message), /cannot decode request of \/runtime\.v1\.RuntimeService\/StopPodSandbox: Cannot create a Buffer larger than 1048576 bytes/);
  });
});

describe('countFieldOccurrences', () => {
  it('counts a repeated field among others of every wire type', () => {
    const type = criMethod('ListContainers').responseType;
    const containers = Array.from({ length: 25 }, (_, index) => ({ id: `c${index}`, created_at: String(1e18 + index), labels: { a: 'b' } }));
    const payload = Buffer.from(type.encode(type.fromObject({ containers })).finish());
    assert.equal(countFieldOccurrences([payload], 1), 25);
    assert.equal(countFieldOccurrences([payload], 2), 0);
  });

  it('counts across the pieces a message arrived in, wherever they are cut', () => {
    const type = criMethod('ListContainers').responseType;
    const containers = Array.from({ length: 7 }, (_, index) => ({ id: `container-${index}`, labels: { app: 'x'.repeat(index * 40) } }));
    const payload = Buffer.from(type.encode(type.fromObject({ containers })).finish());
    for (let cut = 1; cut < payload.length; cut += 3) {
      const pieces = [payload.subarray(0, cut), payload.subarray(cut, cut + 5), payload.subarray(cut + 5)].filter((piece) => piece.length > 0);
      assert.equal(countFieldOccurrences(pieces, 1), 7, `cut at ${cut}`);
    }
  });

  it('throws on a truncated message', () => {
    assert.throws(() => countFieldOccurrences([Buffer.from([0x0a, 0x05, 0x01])], 1), /ends inside a field/);
  });
});
