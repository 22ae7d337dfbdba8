import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import type { PodStart, PodStartListener, PodStartResult } from '../pod-starts.js';
import { CALL_DURATION_BUCKETS } from './call-metrics.js';
import { FirstSeenValues, registryOf } from './label-values.js';
import { GrpcStatus } from '../../wire-codes.js';

/** runtime.v1 ContainerState: CONTAINER_EXITED. */
const CONTAINER_EXITED = 2;
/** Distinct registries a node gets series for; the rest are "other". */
const MAX_REGISTRIES = 32;
/** Exited containers remembered so kubelet's repeated ContainerStatus polls count each exit once. */
const REMEMBERED_EXITS = 10_000;
const POD_START_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
const POD_START_RESULTS: readonly PodStartResult[] = ['started', 'stopped', 'timed_out'];

/** How a container ended, in the few classes an operator alerts on; never the exit code itself as a label. */
export function exitClass(exitCode: number, reason: string | undefined): string {
  if (reason === 'OOMKilled') return 'oom_killed';
  if (exitCode === 0) return 'success';
  return exitCode >= 128 ? 'signal' : 'error';
}

/** What the calls say about the node: pod start latency, image pulls by registry, container exits. */
export class NodeMetrics implements CallObserver, PodStartListener {
  private readonly podStartDuration: Histogram;
  private readonly podStarts: Counter<'result'>;
  private readonly pullDuration: Histogram<'registry'>;
  private readonly pullFailures: Counter<'registry'>;
  private readonly exits: Counter<'exit_class'>;
  private readonly registries = new FirstSeenValues(MAX_REGISTRIES);
  private readonly countedExits = new Set<string>();

  constructor(registry: Registry, build: { version: string; node: string }) {
    new Gauge({ name: 'criscope_build_info', help: "criscope's version and the node it runs on.", labelNames: ['version', 'node'], registers: [registry] }).set(build, 1);
    this.podStartDuration = new Histogram({
      name: 'criscope_pod_start_duration_seconds',
      help: 'From RunPodSandbox to the start of the last container of a pod start (pod starts that ended "started").',
      buckets: POD_START_BUCKETS,
      registers: [registry],
    });
    this.podStarts = new Counter({
      name: 'criscope_pod_starts_total',
      help: 'Pod starts followed to their end: started, stopped (the sandbox was stopped first) or timed_out.',
      labelNames: ['result'],
      registers: [registry],
    });
    for (const result of POD_START_RESULTS) this.podStarts.inc({ result }, 0);
    this.pullDuration = new Histogram({
      name: 'criscope_image_pull_duration_seconds',
      help: 'PullImage calls by registry, failed ones included.',
      labelNames: ['registry'],
      buckets: CALL_DURATION_BUCKETS,
      registers: [registry],
    });
    this.pullFailures = new Counter({
      name: 'criscope_image_pull_failures_total',
      help: 'PullImage calls that did not answer OK, by registry.',
      labelNames: ['registry'],
      registers: [registry],
    });
    this.exits = new Counter({
      name: 'criscope_container_exits_total',
      help: 'Containers seen exited in a ContainerStatus answer, once each: success, error (exit 1-127), signal (128+) or oom_killed.',
      labelNames: ['exit_class'],
      registers: [registry],
    });
  }

  onCall(record: CallRecord): void {
    const method = record.method;
    if (method === undefined) return;
    if (method.podStartStep === 'pull-image') this.countPull(record);
    else if (method.reportsContainerExit) this.countExit(record);
  }

  podStartEnded(start: PodStart, result: PodStartResult, endTick: number): void {
    this.podStarts.inc({ result });
    if (result === 'started') this.podStartDuration.observe((endTick - start.startTick) / 1000);
  }

  private countPull(record: CallRecord): void {
    const image = record.identity.image;
    if (image === undefined) return;
    const registry = this.registries.of(registryOf(image));
    this.pullDuration.observe({ registry }, record.durationSeconds);
    if (record.code !== GrpcStatus.OK) this.pullFailures.inc({ registry });
  }

  private countExit(record: CallRecord): void {
    const { containerId, containerState, exitCode, reason } = record.identity;
    if (containerState !== CONTAINER_EXITED || containerId === undefined || this.countedExits.has(containerId)) return;
    if (this.countedExits.size >= REMEMBERED_EXITS) {
      const oldest = this.countedExits.values().next();
      if (oldest.done !== true) this.countedExits.delete(oldest.value);
    }
    this.countedExits.add(containerId);
    this.exits.inc({ exit_class: exitClass(exitCode ?? 0, reason) });
  }
}
