import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { tail, type TailOptions } from '../../src/cli/tail.js';
import { CallRecord } from '../../src/cri/call-record.js';
import { AdminServer } from '../../src/http/admin-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { FlightRecorder } from '../../src/telemetry/recorder/flight-recorder.js';
import type { PodHistory } from '../../src/telemetry/recorder/pod-history.js';
import type { TopSnapshot } from '../../src/telemetry/top/top-view.js';
import { decodedCallFacts } from '../support/call-facts.js';

const TOP: TopSnapshot = { v: 1, time: '2026-12-07T04:00:00.000Z', windowSeconds: 60, methods: [], podStarts: [] };

function get(socketPath: string, path: string): Promise<{ status: number | undefined; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath, path }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> }));
    });
    call.on('error', reject);
    call.end();
  });
}

async function serving(maxRecords: number): Promise<{ socketPath: string; recorder: FlightRecorder; server: AdminServer }> {
  const socketPath = join(mkdtempSync(join(tmpdir(), 'criscope-admin-')), 'admin.sock');
  const recorder = new FlightRecorder({ maxRecords, maxBytes: 1 << 20, maxSubscribers: 2, maxQueuedBytesPerSubscriber: 4096 });
  const server = new AdminServer(socketPath, { recorder, top: { snapshot: () => TOP }, imageSizes: (images) => Promise.resolve(Object.fromEntries(images.map((image) => [image, 1234]))) }, '0.1.0', createLogger('silent'));
  await server.listen();
  return { socketPath, recorder, server };
}

/** A finished call of pod default/web, decoded from real request and response messages. */
function podCall(method: string, request: Record<string, unknown>, response: Record<string, unknown>, startTick: number): CallRecord {
  return new CallRecord({ ...decodedCallFacts(method, request, response), startTick });
}

describe('the admin socket’s one-answer endpoints', () => {
  const servers: AdminServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  it('answers /v1/top with the snapshot, and names what it serves on an unknown path', async () => {
    const { socketPath, server } = await serving(0);
    servers.push(server);
    assert.deepEqual(await get(socketPath, '/v1/top'), { status: 200, body: TOP });
    const unknown = await get(socketPath, '/v1/nothing');
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body['error']), /serves \/v1\/calls, \/v1\/pods\/NAMESPACE\/NAME\/history, \/v1\/top, \/v1\/version/);
  });

  it('refuses a pod history with the recorder off, saying how to turn it on, and a name that does not decode', async () => {
    const { socketPath, server } = await serving(0);
    servers.push(server);
    const off = await get(socketPath, '/v1/pods/default/web/history');
    assert.equal(off.status, 503);
    assert.match(String(off.body['error']), /the flight recorder is off \(flightRecorder\.maxRecords is 0\).*set flightRecorder\.maxRecords/);
    assert.equal((await get(socketPath, '/v1/pods/default/%E0%A4%A/history')).status, 400);
  });

  it('tells a reader of /v1/calls whether the recorder keeps calls, and tail asked for the past warns when it does not', async () => {
    const pastOf = async (maxRecords: number): Promise<{ printed: string; warned: string }> => {
      const { socketPath, server } = await serving(maxRecords);
      servers.push(server);
      const printed = new PassThrough();
      const warned = new PassThrough();
      const options: TailOptions = { pods: [], namespaces: [], methods: [], errors: false, denied: false, slowerThanMs: undefined, service: undefined, json: true, sinceMs: 600_000, follow: false };
      await tail(socketPath, options, printed as unknown as NodeJS.WriteStream, warned);
      return { printed: String(printed.read() ?? ''), warned: String(warned.read() ?? '') };
    };
    const off = await pastOf(0);
    assert.equal(off.printed, '');
    assert.match(off.warned, /keeps no calls \(its flight recorder is off: flightRecorder\.maxRecords is 0\)/);
    assert.equal((await pastOf(100)).warned, '', 'no warning when the recorder keeps calls');
  });

  it('answers a pod’s history: its calls in the order they were made, with the size of what it pulled', async () => {
    const { socketPath, recorder, server } = await serving(100);
    servers.push(server);
    const sandboxConfig = { metadata: { name: 'web', namespace: 'default', uid: 'u-1' } };
    // Finished in another order than made: the pull ended last.
    recorder.onCall(podCall('RunPodSandbox', { config: sandboxConfig }, { pod_sandbox_id: 'sb-1' }, 1000));
    recorder.onCall(podCall('RunPodSandbox', { config: { metadata: { name: 'other', namespace: 'default', uid: 'u-2' } } }, { pod_sandbox_id: 'sb-2' }, 1500));
    recorder.onCall(podCall('StopPodSandbox', { pod_sandbox_id: 'sb-1' }, {}, 3000));
    recorder.onCall(podCall('PullImage', { image: { image: 'app:1.2' }, sandbox_config: sandboxConfig }, { image_ref: 'sha256:abc' }, 2000));
    const { status, body } = await get(socketPath, '/v1/pods/default/web/history');
    assert.equal(status, 200);
    const history = body as unknown as PodHistory;
    assert.deepEqual(history.calls.map((call) => call.method), ['RunPodSandbox', 'PullImage', 'StopPodSandbox'], 'the stop names only the sandbox, and is still the pod’s');
    assert.deepEqual(history.imageSizes, { 'app:1.2': 1234 });
    assert.equal(history.held.calls, 4);
    assert.deepEqual(history.inFlight, []);
  });
});
