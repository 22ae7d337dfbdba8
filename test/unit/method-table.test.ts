import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeCall } from '../../src/cri/decode-call.js';
import { apiOfService, serviceOfPath } from '../../src/cri/method-table.js';
import { countFieldOccurrences } from '../../src/cri/wire.js';
import { criMethod, criTable } from '../support/cri-client.js';

function encoded(name: string, direction: 'request' | 'response', message: Record<string, unknown>): { compressed: false; payload: Buffer } {
  const method = criMethod(name);
  const type = direction === 'request' ? method.requestType : method.responseType;
  return { compressed: false, payload: Buffer.from(type.encode(type.fromObject(message)).finish()) };
}

describe('the method table built from proto/', () => {
  const methods = [...criTable.methods];

  it('knows all 41 runtime.v1 RPCs, 7 of them server-streaming', () => {
    assert.equal(methods.length, 41);
    assert.deepEqual(
      methods.filter((m) => m.serverStreaming).map((m) => m.name).sort(),
      ['GetContainerEvents', 'StreamContainerStats', 'StreamContainers', 'StreamImages', 'StreamPodSandboxMetrics', 'StreamPodSandboxStats', 'StreamPodSandboxes'],
    );
  });

  it('sends ImageService calls to the image endpoint, for any API version', () => {
    assert.equal(criMethod('PullImage').api, 'image');
    assert.equal(criMethod('RunPodSandbox').api, 'runtime');
    assert.equal(apiOfService(serviceOfPath('/runtime.v1alpha2.ImageService/ListImages')), 'image');
    assert.equal(apiOfService(serviceOfPath('/runtime.v1alpha2.RuntimeService/Version')), 'runtime');
    assert.equal(serviceOfPath('garbage'), '');
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
      response: { status: { id: 'c-1', metadata: { name: 'app' }, image: { image: 'busybox' }, exit_code: 137, state: 'CONTAINER_EXITED' } },
      identity: { containerId: 'c-1', containerName: 'app', image: 'busybox', exitCode: 137 },
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
  for (const { method, request, response, identity, items } of cases) {
    it(`reads ${method}'s identity from only the fields the table names`, () => {
      const decoded = decodeCall(
        criMethod(method),
        request && encoded(method, 'request', request),
        undefined,
        response && encoded(method, 'response', response),
        undefined,
      );
      assert.equal(decoded.error, undefined);
      assert.deepEqual(decoded.identity, identity);
      assert.equal(decoded.responseItems, items);
    });
  }

  it('reports a malformed message as a decode error without throwing', () => {
    const decoded = decodeCall(criMethod('CreateContainer'), { compressed: false, payload: Buffer.from([0x0a, 0xff]) }, undefined, undefined, undefined);
    assert.match(String(decoded.error?.message), /cannot decode request of \/runtime\.v1\.RuntimeService\/CreateContainer/);
  });

  it('reports a compressed message in an unsupported encoding', () => {
    const decoded = decodeCall(criMethod('StopPodSandbox'), { compressed: true, payload: Buffer.from([1, 2, 3]) }, 'snappy', undefined, undefined);
    assert.match(String(decoded.error?.message), /unsupported grpc-encoding "snappy"/);
  });
});

describe('countFieldOccurrences', () => {
  it('counts a repeated field among others of every wire type', () => {
    const type = criMethod('ListContainers').responseType;
    const containers = Array.from({ length: 25 }, (_, index) => ({ id: `c${index}`, created_at: String(1e18 + index), labels: { a: 'b' } }));
    const payload = Buffer.from(type.encode(type.fromObject({ containers })).finish());
    assert.equal(countFieldOccurrences(payload, 1), 25);
    assert.equal(countFieldOccurrences(payload, 2), 0);
  });

  it('throws on a truncated message', () => {
    assert.throws(() => countFieldOccurrences(Buffer.from([0x0a, 0x05, 0x01]), 1), /ends inside a field/);
  });
});
