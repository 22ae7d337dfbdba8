import type { CallObserver, CallRecord } from '../cri/call-record.js';
import type { CallInFlight, CallsInFlight } from './call-in-flight.js';
import type { CriIdentity, PodStartStep } from '../cri/method-specs.js';
import type { Logger } from './logger.js';
import { GrpcStatus } from '../wire-codes.js';

/** How a pod start ended: its containers started, its sandbox was stopped first, or it ran past the bound. */
export type PodStartResult = 'started' | 'stopped' | 'timed_out';

/** One pod being started on the node, from RunPodSandbox to its last container start. */
export interface PodStart {
  readonly uid: string;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  /** performance.now() when RunPodSandbox was sent. */
  readonly startTick: number;
  /** The sandbox its last successful RunPodSandbox made. */
  readonly sandboxId: string | undefined;
  readonly containersCreated: number;
  readonly containersStarted: number;
  /** Calls of this pod start that failed (kubelet retries most of them). */
  readonly failedCalls: number;
}

/** The parts of a pod start whose time `criscope top` shows. */
export type PodStartPhase = 'sandbox' | 'pulls' | 'creates' | 'starts';

const PHASE_OF_STEP: Readonly<Partial<Record<PodStartStep, PodStartPhase>>> = {
  'run-sandbox': 'sandbox',
  'pull-image': 'pulls',
  'create-container': 'creates',
  'start-container': 'starts',
};

/** A pod start still under way, as `criscope top` shows it. */
interface StartingPod {
  readonly uid: string;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly ageMs: number;
  /** Time spent in each phase: its finished calls, and those in flight so far. */
  readonly phasesMs: Readonly<Record<PodStartPhase, number>>;
  /** Its oldest call in flight now, if any: what it waits on. */
  readonly waitingOn: { readonly method: string; readonly image: string | undefined; readonly containerName: string | undefined; readonly containerId: string | undefined; readonly ageMs: number } | undefined;
}

/** Told when a pod start ends; the tick is when it ended (performance.now()). */
export interface PodStartListener {
  podStartEnded(start: PodStart, result: PodStartResult, endTick: number): void;
}

export interface PodStartSettings {
  /** After the last container start, how long to wait for kubelet to create another container. */
  readonly settleSeconds: number;
  readonly maxSeconds: number;
}

/** A node runs at most a few hundred pods; beyond this many starts at once, new ones are not followed. */
const MAX_OPEN_POD_STARTS = 2048;

class OpenPodStart implements PodStart {
  sandboxId: string | undefined;
  /** Every sandbox made for it (kubelet may retry RunPodSandbox), so all are forgotten with it. */
  readonly sandboxIds: string[] = [];
  containersCreated = 0;
  containersStarted = 0;
  failedCalls = 0;
  lastStartEndTick: number | undefined;
  readonly containerIds: string[] = [];
  /** Milliseconds of finished calls per phase. */
  readonly phasesMs: Record<PodStartPhase, number> = { sandbox: 0, pulls: 0, creates: 0, starts: 0 };
  settleTimer: NodeJS.Timeout | undefined;
  boundTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly uid: string,
    readonly name: string | undefined,
    readonly namespace: string | undefined,
    readonly startTick: number,
  ) {}
}

/** Whether a call, by the identity its request carries, is part of this pod start. */
function belongsTo(identity: CriIdentity, start: OpenPodStart): boolean {
  if (identity.podUid === start.uid) return true;
  if (identity.sandboxId !== undefined && start.sandboxIds.includes(identity.sandboxId)) return true;
  return identity.containerId !== undefined && start.containerIds.includes(identity.containerId);
}

/**
 * Follows each pod start through the calls kubelet makes for it: RunPodSandbox
 * opens it (keyed by the pod's uid), PullImage and CreateContainer join it by
 * uid, StartContainer by the container id CreateContainer returned. It ends
 * when every container created has started and kubelet has created no other
 * for `settleSeconds` (CRI never says how many containers a pod has) and no
 * call of it is still in flight (a long pull for its next container), when its
 * sandbox is stopped, or after `maxSeconds`. The method table says which part
 * each call plays.
 */
export class PodStarts implements CallObserver {
  private readonly byUid = new Map<string, OpenPodStart>();
  private readonly bySandbox = new Map<string, OpenPodStart>();
  private readonly byContainer = new Map<string, OpenPodStart>();
  private readonly ofRecord = new WeakMap<CallRecord, PodStart>();
  private readonly listeners: PodStartListener[] = [];

  constructor(
    private readonly settings: PodStartSettings,
    private readonly callsInFlight: CallsInFlight,
    private readonly log: Logger,
  ) {}

  addListener(listener: PodStartListener): void {
    this.listeners.push(listener);
  }

  /** The pod start a call belongs to, once this observer has seen the call. */
  startOf(record: CallRecord): PodStart | undefined {
    return this.ofRecord.get(record);
  }

  onCall(record: CallRecord): void {
    const step = record.method?.podStartStep;
    if (step === undefined) return;
    const identity = record.identity;
    const ok = record.code === GrpcStatus.OK;
    let start: OpenPodStart | undefined;
    switch (step) {
      case 'run-sandbox':
        start = this.open(record);
        if (start !== undefined && ok && identity.sandboxId !== undefined) {
          start.sandboxId = identity.sandboxId;
          start.sandboxIds.push(identity.sandboxId);
          this.bySandbox.set(identity.sandboxId, start);
        }
        break;
      case 'pull-image':
        start = this.find(identity.podUid, undefined);
        break;
      case 'create-container':
        start = this.find(identity.podUid, identity.sandboxId);
        if (start !== undefined && ok && identity.containerId !== undefined) {
          start.containersCreated += 1;
          start.containerIds.push(identity.containerId);
          this.byContainer.set(identity.containerId, start);
        }
        break;
      case 'start-container':
        start = identity.containerId === undefined ? undefined : this.byContainer.get(identity.containerId);
        if (start !== undefined && ok) {
          start.containersStarted += 1;
          start.lastStartEndTick = record.endTick;
        }
        break;
      case 'stop-sandbox':
        start = identity.sandboxId === undefined ? undefined : this.bySandbox.get(identity.sandboxId);
        if (start !== undefined) this.end(start, 'stopped', record.startTick);
        break;
    }
    if (start === undefined) return;
    this.ofRecord.set(record, start);
    const phase = PHASE_OF_STEP[step];
    if (phase !== undefined) start.phasesMs[phase] += record.durationSeconds * 1000;
    if (!ok) start.failedCalls += 1;
    // Only a container start can be the last step; anything else (a failure included) means kubelet is still at it.
    if (step === 'start-container' && ok) this.scheduleSettle(start);
    else if (step !== 'stop-sandbox') this.cancelSettle(start);
  }

  /** Ends every open pod start without a result (criscope is stopping): their timers must not keep it alive. */
  close(): void {
    for (const start of this.byUid.values()) this.forget(start);
  }

  private open(record: CallRecord): OpenPodStart | undefined {
    const { podUid, podName, podNamespace } = record.identity;
    if (podUid === undefined) return undefined;
    // kubelet retries a failed RunPodSandbox under the same uid: still the same pod start.
    const existing = this.byUid.get(podUid);
    if (existing !== undefined) return existing;
    if (this.byUid.size >= MAX_OPEN_POD_STARTS) {
      this.log.warn({ podUid, open: this.byUid.size }, 'too many pod starts at once; not following this one');
      return undefined;
    }
    const start = new OpenPodStart(podUid, podName, podNamespace, record.startTick);
    this.byUid.set(podUid, start);
    const boundMs = Math.max(0, this.settings.maxSeconds * 1000 - (performance.now() - record.startTick));
    start.boundTimer = setTimeout(() => this.end(start, 'timed_out', performance.now()), boundMs);
    start.boundTimer.unref();
    return start;
  }

  private find(uid: string | undefined, sandboxId: string | undefined): OpenPodStart | undefined {
    return (uid === undefined ? undefined : this.byUid.get(uid)) ?? (sandboxId === undefined ? undefined : this.bySandbox.get(sandboxId));
  }

  /** Every created container has started: the pod start ends unless kubelet creates another one soon. */
  private scheduleSettle(start: OpenPodStart): void {
    this.cancelSettle(start);
    if (start.containersStarted < start.containersCreated) return;
    start.settleTimer = setTimeout(() => {
      if (this.stillInFlight(start)) this.scheduleSettle(start);
      else this.end(start, 'started', start.lastStartEndTick ?? performance.now());
    }, this.settings.settleSeconds * 1000);
    start.settleTimer.unref();
  }

  /** Whether kubelet is still at this pod start: a pull, create or start of it not yet answered. */
  private stillInFlight(start: OpenPodStart): boolean {
    for (const call of this.callsInFlight()) {
      const step = call.method?.podStartStep;
      if (step !== 'pull-image' && step !== 'create-container' && step !== 'start-container') continue;
      const identity = call.requestIdentity();
      if (identity !== undefined && belongsTo(identity, start)) return true;
    }
    return false;
  }

  /**
   * The pod starts under way now, oldest first, with the time of each phase
   * (calls in flight counted so far) and what each waits on. Read when asked
   * (`criscope top`), never per call.
   */
  startingNow(nowTick = performance.now()): StartingPod[] {
    const flying: { call: CallInFlight; identity: CriIdentity; phase: PodStartPhase }[] = [];
    for (const call of this.callsInFlight()) {
      const step = call.method?.podStartStep;
      const phase = step === undefined ? undefined : PHASE_OF_STEP[step];
      const identity = phase === undefined ? undefined : call.requestIdentity();
      if (phase !== undefined && identity !== undefined) flying.push({ call, identity, phase });
    }
    const starting: StartingPod[] = [];
    for (const start of this.byUid.values()) {
      const phasesMs = { ...start.phasesMs };
      let oldest: { call: CallInFlight; identity: CriIdentity } | undefined;
      for (const { call, identity, phase } of flying) {
        if (!belongsTo(identity, start)) continue;
        phasesMs[phase] += nowTick - call.startedTick;
        if (oldest === undefined || call.startedTick < oldest.call.startedTick) oldest = { call, identity };
      }
      starting.push({
        uid: start.uid,
        name: start.name,
        namespace: start.namespace,
        ageMs: nowTick - start.startTick,
        phasesMs,
        waitingOn:
          oldest === undefined
            ? undefined
            : { method: oldest.call.methodName, image: oldest.identity.image, containerName: oldest.identity.containerName, containerId: oldest.identity.containerId, ageMs: nowTick - oldest.call.startedTick },
      });
    }
    // A pod whose RunPodSandbox is still in flight is starting too, though its start opens only when the sandbox is made.
    for (const { call, identity, phase } of flying) {
      if (phase !== 'sandbox' || identity.podUid === undefined || this.byUid.has(identity.podUid)) continue;
      const ageMs = nowTick - call.startedTick;
      starting.push({
        uid: identity.podUid,
        name: identity.podName,
        namespace: identity.podNamespace,
        ageMs,
        phasesMs: { sandbox: ageMs, pulls: 0, creates: 0, starts: 0 },
        waitingOn: { method: call.methodName, image: undefined, containerName: undefined, containerId: undefined, ageMs },
      });
    }
    return starting.sort((a, b) => b.ageMs - a.ageMs);
  }

  private cancelSettle(start: OpenPodStart): void {
    clearTimeout(start.settleTimer);
    start.settleTimer = undefined;
  }

  private end(start: OpenPodStart, result: PodStartResult, endTick: number): void {
    if (this.byUid.get(start.uid) !== start) return;
    this.forget(start);
    for (const listener of this.listeners) {
      try {
        listener.podStartEnded(start, result, endTick);
      } catch (error) {
        this.log.error({ err: error, podUid: start.uid }, 'a pod start listener failed');
      }
    }
  }

  private forget(start: OpenPodStart): void {
    clearTimeout(start.settleTimer);
    clearTimeout(start.boundTimer);
    this.byUid.delete(start.uid);
    for (const id of start.sandboxIds) this.bySandbox.delete(id);
    for (const id of start.containerIds) this.byContainer.delete(id);
  }
}
