import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/load.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { CallRecord, type CallTraffic } from '../../src/cri/call-record.js';
import type { CriMethod } from '../../src/cri/method-table.js';
import type { CriIdentity } from '../../src/cri/method-specs.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { FirstSeenValues, MethodLabelValues, registryOf, type MethodLabels } from '../../src/telemetry/metrics/label-values.js';
import { exitClass, NodeMetrics } from '../../src/telemetry/metrics/node-metrics.js';
import { PodStarts, type PodStart, type PodStartListener, type PodStartResult } from '../../src/telemetry/pod-starts.js';
import type { CallInFlight } from '../../src/telemetry/call-in-flight.js';
import { rpcConventions, type RpcConventions } from '../../src/telemetry/tracing/semconv.js';
import { tracingSettings } from '../../src/telemetry/tracing/tracing-settings.js';
import { callFacts } from '../support/call-facts.js';
import { criMethod, criTable, type Message } from '../support/cri-client.js';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function traffic(method: CriMethod, direction: 'request' | 'response', message: Message | undefined): CallTraffic {
  if (message === undefined) return { messages: 0, payloadBytes: 0, first: undefined, encoding: undefined };
  const type = direction === 'request' ? method.requestType : method.responseType;
  const payload = Buffer.from(type.encode(type.fromObject(message)).finish());
  return { messages: 1, payloadBytes: payload.length, first: { compressed: false, payload }, encoding: undefined };
}

/** A finished call as the relay's TrackedCall.record() would build it. */
function recordOf(
  methodName: string,
  request: Message,
  response: Message | undefined,
  code = 0,
  startTick = performance.now(),
  durationSeconds = 0.002,
): CallRecord {
  const method = criMethod(methodName);
  return new CallRecord({
    ...callFacts(method),
    startTick,
    durationSeconds,
    grpcStatus: code,
    grpcMessage: code === 0 ? undefined : 'failed',
    request: traffic(method, 'request', request),
    response: traffic(method, 'response', code === 0 ? response : undefined),
    maxDecodedBytes: 1024 * 1024,
  });
}

describe('the gRPC status a record reports', () => {
  const method = criMethod('Version');
  const cases: { name: string; grpcStatus?: number; resetCode?: number; grpcTimeout?: string; durationSeconds: number; code: number }[] = [
    { name: 'a relayed status', grpcStatus: 5, durationSeconds: 0.01, code: 5 },
    { name: 'a status outside gRPC’s codes is UNKNOWN', grpcStatus: 99, durationSeconds: 0.01, code: 2 },
    { name: 'an unreadable status is UNKNOWN', grpcStatus: Number.NaN, durationSeconds: 0.01, code: 2 },
    { name: 'a cancel before the deadline is CANCELLED', resetCode: 0x8, grpcTimeout: '2S', durationSeconds: 0.5, code: 1 },
    { name: 'a cancel at the deadline is DEADLINE_EXCEEDED', resetCode: 0x8, grpcTimeout: '1999m', durationSeconds: 2.0, code: 4 },
    { name: 'a cancel without a deadline is CANCELLED', resetCode: 0x8, durationSeconds: 30, code: 1 },
    { name: 'REFUSED_STREAM is UNAVAILABLE', resetCode: 0x7, durationSeconds: 0.01, code: 14 },
    { name: 'ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED', resetCode: 0xb, durationSeconds: 0.01, code: 8 },
    { name: 'another reset is INTERNAL', resetCode: 0x2, durationSeconds: 0.01, code: 13 },
    { name: 'neither status nor reset is UNKNOWN', durationSeconds: 0.01, code: 2 },
  ];
  for (const { name, grpcStatus, resetCode, grpcTimeout, durationSeconds, code } of cases) {
    it(name, () => {
      const record = new CallRecord({ ...callFacts(method), durationSeconds, grpcStatus, resetCode, grpcTimeout });
      assert.equal(record.code, code);
    });
  }
});

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-telemetry-')), 'criscope.yaml');
  writeFileSync(path, text);
  return path;
}

/** One sample of a metric as prom-client exposes it, or undefined when the series does not exist. */
async function sample(registry: Registry, metricName: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const name = (value as { metricName?: string }).metricName ?? metric.name;
      if (name !== metricName) continue;
      if (Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted)) return value.value;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// 1. operation_type as kubelet names it
// ---------------------------------------------------------------------------

describe('criMethod(name).operationType', () => {
  // pkg/kubelet/kuberuntime/instrumented_services.go: `const operation = "…"` of each method.
  const kubelet: [method: string, operationType: string][] = [
    ['Version', 'version'],
    ['Status', 'status'],
    ['RunPodSandbox', 'run_podsandbox'],
    ['StopPodSandbox', 'stop_podsandbox'],
    ['RemovePodSandbox', 'remove_podsandbox'],
    ['PodSandboxStatus', 'podsandbox_status'],
    ['ListPodSandbox', 'list_podsandbox'],
    ['CreateContainer', 'create_container'],
    ['StartContainer', 'start_container'],
    ['StopContainer', 'stop_container'],
    ['RemoveContainer', 'remove_container'],
    ['ListContainers', 'list_containers'],
    ['ContainerStatus', 'container_status'],
    ['UpdateContainerResources', 'update_container'],
    ['ReopenContainerLog', 'reopen_container_log'],
    ['ExecSync', 'exec_sync'],
    ['Exec', 'exec'],
    ['Attach', 'attach'],
    ['PortForward', 'port_forward'],
    ['ContainerStats', 'container_stats'],
    ['ListContainerStats', 'list_container_stats'],
    ['PodSandboxStats', 'podsandbox_stats'],
    ['ListPodSandboxStats', 'list_podsandbox_stats'],
    ['UpdateRuntimeConfig', 'update_runtime_config'],
    ['CheckpointContainer', 'checkpoint_container'],
    ['GetContainerEvents', 'get_container_events'],
    ['ListMetricDescriptors', 'list_metric_descriptors'],
    ['ListPodSandboxMetrics', 'list_podsandbox_metrics'],
    ['RuntimeConfig', 'runtime_config'],
    ['ListImages', 'list_images'],
    ['ImageStatus', 'image_status'],
    ['PullImage', 'pull_image'],
    ['RemoveImage', 'remove_image'],
    ['ImageFsInfo', 'image_fs_info'],
  ];
  for (const [method, operationType] of kubelet) {
    it(`names ${method} "${operationType}"`, () => {
      assert.equal(criMethod(method).operationType, operationType);
    });
  }
});

// ---------------------------------------------------------------------------
// 2. Label values
// ---------------------------------------------------------------------------

describe('registryOf', () => {
  const cases: { name: string; image: string; expected: string }[] = [
    { name: 'a bare name is on Docker Hub', image: 'busybox', expected: 'docker.io' },
    { name: 'a Docker Hub repository with a tag', image: 'library/busybox:1', expected: 'docker.io' },
    { name: 'a registry with a dot', image: 'registry.k8s.io/pause:3.9', expected: 'registry.k8s.io' },
    { name: 'localhost', image: 'localhost/app', expected: 'localhost' },
    { name: 'a registry with a port, by digest', image: `127.0.0.1:5055/x/y@sha256:${'a'.repeat(64)}`, expected: '127.0.0.1:5055' },
    { name: 'a registry in upper case', image: 'Quay.IO/a/b', expected: 'quay.io' },
  ];
  for (const { name, image, expected } of cases) {
    it(`${name}: ${image} → ${expected}`, () => {
      assert.equal(registryOf(image), expected);
    });
  }
});

describe('FirstSeenValues', () => {
  const cases: { name: string; limit: number; inputs: string[]; expected: string[] }[] = [
    { name: 'keeps values up to the limit', limit: 3, inputs: ['a', 'b', 'c'], expected: ['a', 'b', 'c'] },
    { name: 'turns values past the limit into "other"', limit: 2, inputs: ['a', 'b', 'c', 'd'], expected: ['a', 'b', 'other', 'other'] },
    { name: 'keeps the earlier values themselves after the limit', limit: 2, inputs: ['a', 'b', 'c', 'a', 'b', 'c'], expected: ['a', 'b', 'other', 'a', 'b', 'other'] },
    { name: 'counts a repeated value once toward the limit', limit: 2, inputs: ['a', 'a', 'a', 'b', 'c'], expected: ['a', 'a', 'a', 'b', 'other'] },
  ];
  for (const { name, limit, inputs, expected } of cases) {
    it(name, () => {
      const values = new FirstSeenValues(limit);
      assert.deepEqual(
        inputs.map((input) => values.of(input)),
        expected,
      );
    });
  }
});

describe('MethodLabelValues', () => {
  const other: MethodLabels = { service: 'other', method: 'other', operation_type: 'other' };
  const cases: { name: string; service: string; method: string; expected: MethodLabels }[] = [
    {
      name: 'a runtime.v1 RuntimeService method',
      service: 'runtime.v1.RuntimeService',
      method: 'RunPodSandbox',
      expected: { service: 'runtime.v1.RuntimeService', method: 'RunPodSandbox', operation_type: 'run_podsandbox' },
    },
    {
      name: 'a runtime.v1 ImageService method',
      service: 'runtime.v1.ImageService',
      method: 'ImageFsInfo',
      expected: { service: 'runtime.v1.ImageService', method: 'ImageFsInfo', operation_type: 'image_fs_info' },
    },
    {
      name: 'a method with its own kubelet name',
      service: 'runtime.v1.RuntimeService',
      method: 'UpdateContainerResources',
      expected: { service: 'runtime.v1.RuntimeService', method: 'UpdateContainerResources', operation_type: 'update_container' },
    },
    {
      name: 'a v1alpha2 RuntimeService method',
      service: 'runtime.v1alpha2.RuntimeService',
      method: 'StopPodSandbox',
      expected: { service: 'runtime.v1alpha2.RuntimeService', method: 'StopPodSandbox', operation_type: 'stop_podsandbox' },
    },
    {
      name: 'a v1alpha2 ImageService method',
      service: 'runtime.v1alpha2.ImageService',
      method: 'PullImage',
      expected: { service: 'runtime.v1alpha2.ImageService', method: 'PullImage', operation_type: 'pull_image' },
    },
    { name: 'an unknown method of a CRI service', service: 'runtime.v1.RuntimeService', method: 'NoSuchMethod', expected: other },
    { name: 'a foreign service', service: 'grpc.health.v1.Health', method: 'Check', expected: other },
    { name: 'a known method name under a foreign service', service: 'evil.v1.RuntimeService', method: 'Version', expected: other },
    { name: 'a CRI service name with a suffix', service: 'runtime.v1.RuntimeServiceX', method: 'Version', expected: other },
    { name: 'another CRI version', service: 'runtime.v2.RuntimeService', method: 'Version', expected: other },
  ];
  for (const { name, service, method, expected } of cases) {
    it(`${name}: ${service}/${method}`, () => {
      const labels = new MethodLabelValues(criTable);
      const path = `/${service}/${method}`;
      assert.deepEqual(labels.of(service, method, path), expected);
      assert.deepEqual(labels.of(service, method, path), expected, 'asked again (cached)');
    });
  }
});

// ---------------------------------------------------------------------------
// 3. Node metrics
// ---------------------------------------------------------------------------

describe('exitClass', () => {
  const cases: { exitCode: number; reason: string | undefined; expected: string }[] = [
    { exitCode: 0, reason: undefined, expected: 'success' },
    { exitCode: 1, reason: undefined, expected: 'error' },
    { exitCode: 127, reason: undefined, expected: 'error' },
    { exitCode: 128, reason: undefined, expected: 'signal' },
    { exitCode: 137, reason: undefined, expected: 'signal' },
    { exitCode: 143, reason: 'Error', expected: 'signal' },
    { exitCode: 137, reason: 'OOMKilled', expected: 'oom_killed' },
    { exitCode: 0, reason: 'Completed', expected: 'success' },
  ];
  for (const { exitCode, reason, expected } of cases) {
    it(`(${exitCode}, ${String(reason)}) → ${expected}`, () => {
      assert.equal(exitClass(exitCode, reason), expected);
    });
  }
});

describe('NodeMetrics', () => {
  const statusOf = (id: string, state: string, exitCode: number, reason = ''): [Message, Message] => [
    { container_id: id },
    { status: { id, metadata: { name: 'app' }, image: { image: 'busybox' }, state, exit_code: exitCode, reason } },
  ];

  const exitCases: { name: string; polls: [Message, Message][]; expected: Record<string, number> }[] = [
    {
      name: 'counts an exited container polled 3 times once',
      polls: [statusOf('c-1', 'CONTAINER_EXITED', 1), statusOf('c-1', 'CONTAINER_EXITED', 1), statusOf('c-1', 'CONTAINER_EXITED', 1)],
      expected: { success: 0, error: 1, signal: 0, oom_killed: 0 },
    },
    {
      name: 'counts no exit for a running container',
      polls: [statusOf('c-1', 'CONTAINER_RUNNING', 0), statusOf('c-1', 'CONTAINER_RUNNING', 0)],
      expected: { success: 0, error: 0, signal: 0, oom_killed: 0 },
    },
    {
      name: 'counts a container once it has exited after running',
      polls: [statusOf('c-1', 'CONTAINER_RUNNING', 0), statusOf('c-1', 'CONTAINER_EXITED', 137, 'OOMKilled'), statusOf('c-1', 'CONTAINER_EXITED', 137, 'OOMKilled')],
      expected: { success: 0, error: 0, signal: 0, oom_killed: 1 },
    },
    {
      name: 'counts different containers each',
      polls: [statusOf('c-1', 'CONTAINER_EXITED', 0), statusOf('c-2', 'CONTAINER_EXITED', 0), statusOf('c-3', 'CONTAINER_EXITED', 143), statusOf('c-2', 'CONTAINER_EXITED', 0)],
      expected: { success: 2, error: 0, signal: 1, oom_killed: 0 },
    },
  ];
  for (const { name, polls, expected } of exitCases) {
    it(name, async () => {
      const registry = new Registry();
      const metrics = new NodeMetrics(registry, { version: 'test', node: 'node-1' });
      for (const [request, response] of polls) metrics.onCall(recordOf('ContainerStatus', request, response));
      for (const [exitClassName, count] of Object.entries(expected)) {
        assert.equal((await sample(registry, 'criscope_container_exits_total', { exit_class: exitClassName })) ?? 0, count, exitClassName);
      }
    });
  }

  it('counts image pulls by registry, and failed ones apart', async () => {
    const registry = new Registry();
    const metrics = new NodeMetrics(registry, { version: 'test', node: 'node-1' });
    const pod = { metadata: { name: 'web', namespace: 'shop', uid: 'u-1' } };
    const pulls: { image: string; code: number }[] = [
      { image: 'busybox:1', code: 0 },
      { image: 'registry.k8s.io/pause:3.9', code: 2 },
      { image: 'registry.k8s.io/pause:3.9', code: 0 },
      { image: 'localhost:5000/app', code: 14 },
    ];
    for (const { image, code } of pulls) {
      metrics.onCall(recordOf('PullImage', { image: { image }, sandbox_config: pod }, { image_ref: 'sha256:abc' }, code, performance.now(), 0.5));
    }
    const expected: { registry: string; count: number | undefined; failures: number | undefined }[] = [
      { registry: 'docker.io', count: 1, failures: undefined },
      { registry: 'registry.k8s.io', count: 2, failures: 1 },
      { registry: 'localhost:5000', count: 1, failures: 1 },
      { registry: 'quay.io', count: undefined, failures: undefined },
    ];
    for (const { registry: name, count, failures } of expected) {
      assert.equal(await sample(registry, 'criscope_image_pull_duration_seconds_count', { registry: name }), count, `${name} pulls`);
      assert.equal(await sample(registry, 'criscope_image_pull_failures_total', { registry: name }), failures, `${name} failures`);
    }
    assert.equal(await sample(registry, 'criscope_image_pull_duration_seconds_sum', { registry: 'registry.k8s.io' }), 1);
    const text = await registry.metrics();
    assert.match(text, /^criscope_image_pull_failures_total\{registry="registry\.k8s\.io"\} 1$/m);
  });
});

// ---------------------------------------------------------------------------
// 4. Pod starts
// ---------------------------------------------------------------------------

interface Ended {
  readonly start: PodStart;
  readonly result: PodStartResult;
  readonly endTick: number;
  /** performance.now() when the listener was told. */
  readonly at: number;
}

class EndedStarts implements PodStartListener {
  readonly ended: Ended[] = [];

  podStartEnded(start: PodStart, result: PodStartResult, endTick: number): void {
    this.ended.push({ start, result, endTick, at: performance.now() });
  }

  async first(timeoutMs: number): Promise<Ended | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (this.ended.length === 0 && performance.now() < deadline) await sleep(5);
    return this.ended[0];
  }
}

const SETTLE_SECONDS = 0.05;
const SETTLE_MS = SETTLE_SECONDS * 1000;
/** Timers may fire a little before performance.now() says they are due. */
const TIMER_SLACK_MS = 5;

const pod = (uid: string): Message => ({ metadata: { name: `pod-${uid}`, namespace: 'shop', uid } });
const run = (uid: string, sandboxId: string, code = 0): Step => ({ method: 'RunPodSandbox', request: { config: pod(uid) }, response: { pod_sandbox_id: sandboxId }, code });
const pull = (uid: string, image: string): Step => ({ method: 'PullImage', request: { image: { image }, sandbox_config: pod(uid) }, response: { image_ref: 'sha256:abc' } });
const create = (uid: string, sandboxId: string, name: string, containerId: string, code = 0): Step => ({
  method: 'CreateContainer',
  request: { pod_sandbox_id: sandboxId, config: { metadata: { name }, image: { image: 'busybox' } }, sandbox_config: pod(uid) },
  response: { container_id: containerId },
  code,
});
const startContainer = (containerId: string, code = 0): Step => ({ method: 'StartContainer', request: { container_id: containerId }, response: {}, code });
const stopSandbox = (sandboxId: string): Step => ({ method: 'StopPodSandbox', request: { pod_sandbox_id: sandboxId }, response: {} });
const wait = (ms: number): Step => ({ waitMs: ms });

/** A call (made now, unless `startTick` says when), or a pause. */
type Step = { method: string; request: Message; response: Message; code?: number; startTick?: number } | { waitMs: number };

/** Feeds the steps in order (waiting where told); returns the records made. */
async function feed(podStarts: PodStarts, steps: readonly Step[]): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  for (const step of steps) {
    if ('waitMs' in step) {
      await sleep(step.waitMs);
      continue;
    }
    const record = recordOf(step.method, step.request, step.response, step.code ?? 0, step.startTick);
    records.push(record);
    podStarts.onCall(record);
  }
  return records;
}

describe('PodStarts', () => {
  const log = createLogger('silent');

  const cases: {
    name: string;
    maxSeconds?: number;
    steps: Step[];
    expected: {
      result: PodStartResult;
      uid: string;
      containersCreated: number;
      containersStarted: number;
      failedCalls: number;
      /** The index (among the call records) whose endTick the end must carry. */
      endTickOfRecord?: number;
      /** The index of the record whose startTick is the pod start's. */
      startTickOfRecord?: number;
      /** How long after the last step the end must come, at least. */
      notBeforeMs?: number;
    };
  }[] = [
    {
      name: 'run → create → start ends "started" after the settle, at the StartContainer’s end',
      steps: [run('u-1', 'sb-1'), pull('u-1', 'busybox'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-1')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 0, endTickOfRecord: 3, startTickOfRecord: 0, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'a second CreateContainer before the settle delays the end until its StartContainer',
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'init', 'c-1'), startContainer('c-1'), wait(SETTLE_MS / 3), create('u-1', 'sb-1', 'app', 'c-2'), wait(SETTLE_MS * 3), startContainer('c-2')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 2, containersStarted: 2, failedCalls: 0, endTickOfRecord: 4, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'two containers created before either starts: the end waits for both',
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), create('u-1', 'sb-1', 'sidecar', 'c-2'), startContainer('c-1'), wait(SETTLE_MS * 3), startContainer('c-2')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 2, containersStarted: 2, failedCalls: 0, endTickOfRecord: 4, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'a failed StartContainer neither counts as started nor ends it; its retry does',
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-1', 2), wait(SETTLE_MS * 3), startContainer('c-1')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 1, endTickOfRecord: 3, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'a CreateContainer joins by sandbox id when its sandbox_config has no uid',
      steps: [
        run('u-1', 'sb-1'),
        { method: 'CreateContainer', request: { pod_sandbox_id: 'sb-1', config: { metadata: { name: 'app' } } }, response: { container_id: 'c-1' } },
        startContainer('c-1'),
      ],
      expected: { result: 'started', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 0, endTickOfRecord: 2, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'a retried RunPodSandbox (same uid) joins the same start',
      steps: [run('u-1', 'sb-x', 2), run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-1')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 1, endTickOfRecord: 3, startTickOfRecord: 0, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'a StartContainer of a container never created is ignored',
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-unknown'), startContainer('c-1')],
      expected: { result: 'started', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 0, endTickOfRecord: 3, notBeforeMs: SETTLE_MS },
    },
    {
      name: 'StopPodSandbox of its sandbox ends it "stopped"',
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), stopSandbox('sb-1')],
      expected: { result: 'stopped', uid: 'u-1', containersCreated: 1, containersStarted: 0, failedCalls: 0 },
    },
    {
      name: 'a failed CreateContainer does not end it; the bound ends it "timed_out"',
      maxSeconds: 0.3,
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1', 2)],
      expected: { result: 'timed_out', uid: 'u-1', containersCreated: 0, containersStarted: 0, failedCalls: 1, startTickOfRecord: 0, notBeforeMs: 300 - 2 * SETTLE_MS },
    },
    {
      name: 'a failed CreateContainer after a started container holds the end until the bound',
      maxSeconds: 0.3,
      steps: [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-1'), create('u-1', 'sb-1', 'sidecar', 'c-2', 2)],
      expected: { result: 'timed_out', uid: 'u-1', containersCreated: 1, containersStarted: 1, failedCalls: 1, startTickOfRecord: 0, notBeforeMs: 300 - 2 * SETTLE_MS },
    },
  ];

  for (const { name, maxSeconds, steps, expected } of cases) {
    it(name, async () => {
      const podStarts = new PodStarts({ settleSeconds: SETTLE_SECONDS, maxSeconds: maxSeconds ?? 30 }, () => [], log);
      const listener = new EndedStarts();
      podStarts.addListener(listener);
      try {
        const calls = steps.filter((step) => !('waitMs' in step)).length;
        const records = await feed(podStarts, steps.slice(0, -1));
        assert.equal(listener.ended.length, 0, 'ended before its last call');
        records.push(...(await feed(podStarts, steps.slice(-1))));
        assert.equal(records.length, calls);
        const lastFedAt = performance.now();

        const ended = await listener.first(2000);
        assert.ok(ended !== undefined, 'never ended');
        await sleep(SETTLE_MS * 3);
        assert.equal(listener.ended.length, 1, 'ended more than once');

        assert.equal(ended.result, expected.result);
        assert.equal(ended.start.uid, expected.uid);
        assert.equal(ended.start.name, `pod-${expected.uid}`);
        assert.equal(ended.start.namespace, 'shop');
        assert.equal(ended.start.containersCreated, expected.containersCreated, 'containersCreated');
        assert.equal(ended.start.containersStarted, expected.containersStarted, 'containersStarted');
        assert.equal(ended.start.failedCalls, expected.failedCalls, 'failedCalls');
        if (expected.endTickOfRecord !== undefined) assert.equal(ended.endTick, records[expected.endTickOfRecord]?.endTick, 'endTick');
        if (expected.startTickOfRecord !== undefined) assert.equal(ended.start.startTick, records[expected.startTickOfRecord]?.startTick, 'startTick');
        if (expected.notBeforeMs !== undefined) {
          assert.ok(ended.at - lastFedAt >= expected.notBeforeMs - TIMER_SLACK_MS, `ended ${(ended.at - lastFedAt).toFixed(1)} ms after the last call`);
        }
        if (expected.result === 'timed_out') {
          assert.ok(ended.endTick - ended.start.startTick >= 300 - TIMER_SLACK_MS, `timed out after ${(ended.endTick - ended.start.startTick).toFixed(1)} ms`);
        }
      } finally {
        podStarts.close();
      }
    });
  }

  it('does not end while a pull for its next container is still in flight', async () => {
    let pulling = true;
    const pullInFlight: CallInFlight = {
      path: '/runtime.v1.ImageService/PullImage',
      method: criMethod('PullImage'),
      service: 'runtime.v1.ImageService',
      methodName: 'PullImage',
      serverStreaming: false,
      startedTick: performance.now(),
      responseMessages: 0,
      requestIdentity: () => ({ podUid: 'u-1', image: 'big:1' }),
    };
    const podStarts = new PodStarts({ settleSeconds: SETTLE_SECONDS, maxSeconds: 30 }, () => (pulling ? [pullInFlight] : []), log);
    const listener = new EndedStarts();
    podStarts.addListener(listener);
    try {
      await feed(podStarts, [run('u-1', 'sb-1'), create('u-1', 'sb-1', 'app', 'c-1'), startContainer('c-1')]);
      assert.equal(await listener.first(SETTLE_MS * 4), undefined, 'ended while the pull ran');
      pulling = false;
      const ended = await listener.first(SETTLE_MS * 4);
      assert.equal(ended?.result, 'started');
    } finally {
      podStarts.close();
    }
  });

  it('ignores calls of pods it never opened', async () => {
    const podStarts = new PodStarts({ settleSeconds: SETTLE_SECONDS, maxSeconds: 0.2 }, () => [], log);
    const listener = new EndedStarts();
    podStarts.addListener(listener);
    try {
      const records = await feed(podStarts, [
        startContainer('c-unknown'),
        create('u-never', 'sb-never', 'app', 'c-9'),
        startContainer('c-9'),
        pull('u-never', 'busybox'),
        stopSandbox('sb-never'),
        run('', 'sb-no-uid'),
      ]);
      for (const record of records) assert.equal(podStarts.startOf(record), undefined, record.methodName);
      assert.equal(await listener.first(400), undefined);
    } finally {
      podStarts.close();
    }
  });

  it('tells startOf(record) the start each joined record belongs to', async () => {
    const podStarts = new PodStarts({ settleSeconds: SETTLE_SECONDS, maxSeconds: 30 }, () => [], log);
    try {
      const records = await feed(podStarts, [
        run('u-1', 'sb-1'),
        run('u-2', 'sb-2'),
        pull('u-1', 'busybox'),
        create('u-1', 'sb-1', 'app', 'c-1'),
        create('u-2', 'sb-2', 'app', 'c-2'),
        startContainer('c-2'),
        startContainer('c-1'),
        startContainer('c-other'),
      ]);
      const uids = records.map((record) => podStarts.startOf(record)?.uid);
      assert.deepEqual(uids, ['u-1', 'u-2', 'u-1', 'u-1', 'u-2', 'u-2', 'u-1', undefined]);
      assert.equal(podStarts.startOf(records[0]), podStarts.startOf(records[6]), 'the same start object');
      assert.equal(podStarts.startOf(recordOf('StartContainer', { container_id: 'c-1' }, {})), undefined, 'a record it has not seen');
    } finally {
      podStarts.close();
    }
  });

  it('tells the pods starting now (criscope top): the time of each phase, a call in flight counted so far, and what each waits on', async () => {
    let inFlight: CallInFlight[] = [];
    const podStarts = new PodStarts({ settleSeconds: SETTLE_SECONDS, maxSeconds: 30 }, () => inFlight, log);
    // Every tick is set: the ages below do not depend on how fast the test runs.
    const startTick = performance.now();
    const at = (step: Step, offsetMs: number): Step => ({ ...step, startTick: startTick + offsetMs });
    await feed(podStarts, [at(run('u-1', 'sb-1'), 0), at(pull('u-1', 'busybox'), 10), at(create('u-1', 'sb-1', 'init', 'c-1'), 20), at(startContainer('c-1'), 30)]);
    const nowTick = startTick + 1000;
    const flying = (methodName: string, identity: CriIdentity, ageMs: number, path: string): CallInFlight => ({
      path,
      method: criMethod(methodName),
      service: criMethod(methodName).service,
      methodName,
      serverStreaming: false,
      startedTick: nowTick - ageMs,
      responseMessages: 0,
      requestIdentity: () => identity,
    });
    inFlight = [
      flying('PullImage', { podUid: 'u-1', image: 'app:1.2' }, 4000, '/runtime.v1.ImageService/PullImage'),
      flying('RunPodSandbox', { podUid: 'u-2', podName: 'pod-u-2', podNamespace: 'shop' }, 1500, '/runtime.v1.RuntimeService/RunPodSandbox'),
    ];
    try {
      const starting = podStarts.startingNow(nowTick);
      assert.deepEqual(starting.map((start) => start.uid), ['u-2', 'u-1'], 'oldest first');
      const [second, first] = starting;
      assert.equal(first.name, 'pod-u-1');
      assert.ok(first.phasesMs.pulls >= 4000, `the pull in flight counts: ${first.phasesMs.pulls}`);
      assert.ok(first.phasesMs.sandbox > 0 && first.phasesMs.creates > 0 && first.phasesMs.starts > 0);
      assert.deepEqual({ ...first.waitingOn, ageMs: undefined }, { method: 'PullImage', image: 'app:1.2', containerName: undefined, containerId: undefined, ageMs: undefined });
      assert.equal(first.waitingOn?.ageMs, 4000);
      assert.equal(second.name, 'pod-u-2', 'a pod whose sandbox is still being made is starting too');
      assert.equal(second.phasesMs.sandbox, 1500);
      assert.equal(second.waitingOn?.method, 'RunPodSandbox');
    } finally {
      podStarts.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 5. OTEL_SEMCONV_STABILITY_OPT_IN
// ---------------------------------------------------------------------------

describe('rpcConventions', () => {
  const cases: { optIn: string | undefined; expected: RpcConventions }[] = [
    { optIn: undefined, expected: { old: true, stable: false } },
    { optIn: '', expected: { old: true, stable: false } },
    { optIn: 'rpc', expected: { old: false, stable: true } },
    { optIn: 'rpc/dup', expected: { old: true, stable: true } },
    { optIn: 'http,rpc/dup', expected: { old: true, stable: true } },
    { optIn: 'http, rpc', expected: { old: false, stable: true } },
    { optIn: 'rpc,rpc/dup', expected: { old: true, stable: true } },
    { optIn: 'database', expected: { old: true, stable: false } },
  ];
  for (const { optIn, expected } of cases) {
    it(`${JSON.stringify(optIn)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(rpcConventions(optIn), expected);
    });
  }
});

// ---------------------------------------------------------------------------
// 6. Tracing settings
// ---------------------------------------------------------------------------

describe('tracingSettings', () => {
  const ENDPOINT = 'http://collector.example:4317';

  const cases: {
    name: string;
    config?: ConfigInput;
    env: NodeJS.ProcessEnv;
    expected: undefined | { url: string | undefined; endpointForLog: string; samplingRatio: number };
  }[] = [
    { name: 'no tracing section and no environment: off', env: {}, expected: undefined },
    {
      name: 'an OTLP endpoint in the environment turns it on',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
    {
      name: 'the traces endpoint wins over the general one',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4317', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ENDPOINT },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
    { name: 'OTEL_SDK_DISABLED=true turns it off', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'true' }, expected: undefined },
    { name: 'OTEL_SDK_DISABLED=TRUE turns it off', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }, expected: undefined },
    {
      name: 'OTEL_SDK_DISABLED=false leaves it on',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'false' },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
    { name: 'OTEL_TRACES_EXPORTER=none turns it off', env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }, expected: undefined },
    { name: 'tracing.enabled: false wins over an endpoint in the environment', config: { tracing: { enabled: false } }, env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT }, expected: undefined },
    {
      name: 'the config endpoint is the exporter url',
      config: { tracing: { endpoint: ENDPOINT } },
      env: {},
      expected: { url: ENDPOINT, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
    {
      name: 'the config endpoint wins over the environment',
      config: { tracing: { endpoint: ENDPOINT } },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://elsewhere:4317' },
      expected: { url: ENDPOINT, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
    {
      name: 'the sampling ratio from the config',
      config: { tracing: { endpoint: ENDPOINT, samplingRatio: 0.1 } },
      env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.9' },
      expected: { url: ENDPOINT, endpointForLog: ENDPOINT, samplingRatio: 0.1 },
    },
    {
      name: 'the sampling ratio from parentbased_traceidratio',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 0.25 },
    },
    {
      name: 'always_off samples nothing',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'always_off' },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 0 },
    },
    {
      name: 'parentbased_always_on samples everything',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_TRACES_SAMPLER_ARG: '0.5' },
      expected: { url: undefined, endpointForLog: ENDPOINT, samplingRatio: 1 },
    },
  ];
  for (const { name, config, env, expected } of cases) {
    it(name, () => {
      const settings = tracingSettings(configSchema.parse(config ?? {}), env);
      if (expected === undefined) {
        assert.equal(settings, undefined);
        return;
      }
      assert.ok(settings !== undefined, 'tracing is off');
      assert.equal(settings.exporter.url, expected.url, 'exporter url');
      assert.equal(settings.endpointForLog, expected.endpointForLog, 'endpointForLog');
      assert.equal(settings.samplingRatio, expected.samplingRatio, 'samplingRatio');
    });
  }

  const missingCa = join(mkdtempSync(join(tmpdir(), 'criscope-tls-')), 'no-such-ca.pem');
  const errors: { name: string; config?: ConfigInput; env: NodeJS.ProcessEnv; field: string; message: RegExp }[] = [
    {
      name: 'an unsupported sampler',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'jaeger_remote' },
      field: 'OTEL_TRACES_SAMPLER',
      message: /OTEL_TRACES_SAMPLER: "jaeger_remote" is not supported/,
    },
    {
      name: 'a sampler ratio above 1',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
      field: 'OTEL_TRACES_SAMPLER_ARG',
      message: /OTEL_TRACES_SAMPLER_ARG: must be a ratio from 0 to 1, got "2"/,
    },
    {
      name: 'a sampler ratio that is not a number',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' },
      field: 'OTEL_TRACES_SAMPLER_ARG',
      message: /OTEL_TRACES_SAMPLER_ARG: .*"half"/,
    },
    {
      name: 'a CA file that cannot be read',
      config: { tracing: { endpoint: 'https://collector.example:4317', tls: { caFile: missingCa } } },
      env: {},
      field: 'tracing.tls.caFile',
      message: new RegExp(`cannot read ${missingCa.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`),
    },
  ];
  for (const { name, config, env, field, message } of errors) {
    it(`refuses ${name}, naming ${field}`, () => {
      const parsed = configSchema.parse(config ?? {});
      assert.throws(
        () => tracingSettings(parsed, env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.deepEqual(
            error.issues.map((issue) => issue.field),
            [field],
          );
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('sends the configured headers as gRPC metadata, and never logs them', () => {
    const settings = tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT, headers: { 'x-api-key': 'k-secret', 'x-tenant': 'node-1' } } }), {});
    assert.ok(settings !== undefined);
    const metadata = settings.exporter.metadata;
    assert.ok(metadata !== undefined, 'no metadata');
    assert.deepEqual(metadata.get('x-api-key'), ['k-secret']);
    assert.deepEqual(metadata.get('x-tenant'), ['node-1']);
    assert.doesNotMatch(settings.endpointForLog, /k-secret/);
  });

  it('passes no metadata when no headers are configured', () => {
    const settings = tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT } }), {});
    assert.ok(settings !== undefined);
    assert.equal(settings.exporter.metadata, undefined);
  });

  const limitCases: { name: string; tracing: Record<string, unknown>; env: Record<string, string>; limits: Record<string, number> }[] = [
    { name: 'defaults', tracing: {}, env: {}, limits: { maxQueueSize: 2048, maxExportBatchSize: 512, exportDelayMillis: 1000, exportTimeoutMillis: 10_000 } },
    {
      name: 'from the OTEL_* variables',
      tracing: {},
      env: { OTEL_EXPORTER_OTLP_TIMEOUT: '4000', OTEL_BSP_MAX_QUEUE_SIZE: '300', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '30', OTEL_BSP_SCHEDULE_DELAY: '200' },
      limits: { maxQueueSize: 300, maxExportBatchSize: 30, exportDelayMillis: 200, exportTimeoutMillis: 4000 },
    },
    {
      name: 'the traces timeout before the general one, the config before both',
      tracing: { maxQueueSize: 50 },
      env: { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500', OTEL_EXPORTER_OTLP_TIMEOUT: '4000', OTEL_BSP_MAX_QUEUE_SIZE: '300' },
      limits: { maxQueueSize: 50, maxExportBatchSize: 50, exportDelayMillis: 1000, exportTimeoutMillis: 2500 },
    },
  ];
  for (const { name, tracing, env, limits } of limitCases) {
    it(`export limits: ${name}`, () => {
      const settings = tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT, ...tracing } }), env);
      assert.ok(settings !== undefined);
      assert.deepEqual(settings.limits, limits);
      assert.equal(settings.exporter.timeoutMillis, limits['exportTimeoutMillis']);
    });
  }

  it('refuses an export limit variable that is not a whole number, naming it', () => {
    assert.throws(
      () => tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT } }), { OTEL_BSP_MAX_QUEUE_SIZE: 'lots' }),
      (error: unknown) => error instanceof ConfigError && /OTEL_BSP_MAX_QUEUE_SIZE: must be a whole number/.test(error.message),
    );
  });

  it('takes span limits from the OTEL_* variables OpenTelemetry’s Node SDK reads, the span-specific ones first', () => {
    const env = {
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '20',
      OTEL_ATTRIBUTE_COUNT_LIMIT: '30',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '256',
      OTEL_SPAN_EVENT_COUNT_LIMIT: 'many',
      OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: '4',
    };
    const settings = tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT } }), env);
    assert.deepEqual(settings?.spanLimits, {
      attributeCountLimit: 20,
      attributeValueLengthLimit: 256,
      eventCountLimit: 128,
      linkCountLimit: 128,
      attributePerEventCountLimit: 4,
      attributePerLinkCountLimit: 128,
    });
    assert.deepEqual(tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT } }), {})?.spanLimits.attributeValueLengthLimit, Infinity);
  });

  it('takes the export limits from the config', () => {
    const settings = tracingSettings(configSchema.parse({ tracing: { endpoint: ENDPOINT, timeoutSeconds: 3, maxQueueSize: 100, maxExportBatchSize: 50, exportDelayMillis: 250 } }), {});
    assert.ok(settings !== undefined);
    assert.deepEqual(settings.limits, { maxQueueSize: 100, maxExportBatchSize: 50, exportDelayMillis: 250, exportTimeoutMillis: 3000 });
    assert.equal(settings.exporter.timeoutMillis, 3000);
  });
});

// ---------------------------------------------------------------------------
// 7. Config schema: tracing and podStart
// ---------------------------------------------------------------------------

describe('loadConfig: tracing and podStart', () => {
  const invalid: { name: string; file: string; field: string; message: RegExp }[] = [
    { name: 'an endpoint without a scheme', file: 'tracing:\n  endpoint: localhost:4317\n', field: 'tracing.endpoint', message: /tracing\.endpoint: must be an OTLP gRPC URL/ },
    {
      name: 'a batch larger than the queue',
      file: 'tracing:\n  maxExportBatchSize: 1000\n  maxQueueSize: 100\n',
      field: 'tracing.maxExportBatchSize',
      message: /tracing\.maxExportBatchSize: maxExportBatchSize must not exceed maxQueueSize/,
    },
    { name: 'an unknown tracing key', file: 'tracing:\n  unknownKey: 1\n', field: 'tracing', message: /tracing: Unrecognized key: "unknownKey"/ },
    { name: 'a sampling ratio above 1', file: 'tracing:\n  samplingRatio: 1.5\n', field: 'tracing.samplingRatio', message: /tracing\.samplingRatio: / },
    { name: 'a negative settle time', file: 'podStart:\n  settleSeconds: -1\n', field: 'podStart.settleSeconds', message: /podStart\.settleSeconds: / },
    { name: 'a bound under a second', file: 'podStart:\n  maxSeconds: 0.5\n', field: 'podStart.maxSeconds', message: /podStart\.maxSeconds: / },
    { name: 'an unknown podStart key', file: 'podStart:\n  settle: 5\n', field: 'podStart', message: /podStart: Unrecognized key: "settle"/ },
  ];
  for (const { name, file, field, message } of invalid) {
    it(`refuses ${name}, naming ${field}`, () => {
      const path = configFile(file);
      assert.throws(
        () => loadConfig(path),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.source, path);
          assert.deepEqual(
            error.issues.map((issue) => issue.field),
            [field],
          );
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  const valid: { name: string; file: string; podStart: { settleSeconds: number; maxSeconds: number } }[] = [
    { name: 'defaults podStart when the file leaves it out', file: '', podStart: { settleSeconds: 5, maxSeconds: 900 } },
    { name: 'defaults the podStart keys left out', file: 'podStart:\n  settleSeconds: 2\n', podStart: { settleSeconds: 2, maxSeconds: 900 } },
    { name: 'accepts a zero settle time', file: 'podStart:\n  settleSeconds: 0\n  maxSeconds: 60\n', podStart: { settleSeconds: 0, maxSeconds: 60 } },
  ];
  for (const { name, file, podStart } of valid) {
    it(name, () => {
      assert.deepEqual(loadConfig(configFile(file)).podStart, podStart);
    });
  }

  it('accepts a tracing section and leaves out what it does not say (the environment or the defaults decide)', () => {
    const config = loadConfig(configFile('tracing:\n  endpoint: https://otel.example:4317\n  samplingRatio: 0.5\n  headers:\n    x-api-key: k\n'));
    assert.deepEqual(config.tracing, {
      endpoint: 'https://otel.example:4317',
      samplingRatio: 0.5,
      headers: { 'x-api-key': 'k' },
    });
  });
});
