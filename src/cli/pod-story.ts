import { callTarget } from '../telemetry/call-target.js';
import type { CallEntry } from '../telemetry/recorder/call-entry.js';
import type { InFlightEntry } from '../telemetry/recorder/in-flight-entry.js';
import { clock, printable, short } from './call-line.js';
import { formatAge, formatBytes } from './readable-units.js';

/** The calls that change a pod (its sandbox, images, containers); status and list calls tell its story only when they fail. */
const LIFECYCLE: ReadonlySet<string> = new Set([
  'RunPodSandbox',
  'StopPodSandbox',
  'RemovePodSandbox',
  'UpdatePodSandboxResources',
  'PullImage',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'UpdateContainerResources',
  'CheckpointContainer',
]);

/** Calls that take a pod down: they undo no failure of its start. */
const TEARDOWN: ReadonlySet<string> = new Set(['StopPodSandbox', 'RemovePodSandbox', 'StopContainer', 'RemoveContainer']);

/** The longest runtime message a verdict quotes whole; the history line above it has all of it. */
const MAX_VERDICT_MESSAGE = 240;
/** Of a longer one, the verdict keeps the start and, longer, the end: runtimes put the cause last ("…: not found"). */
const VERDICT_HEAD = 80;
const VERDICT_TAIL = 150;

/** One line of a pod's story: a call, or several alike in a row (kubelet's retries). */
export interface StoryEvent {
  readonly call: CallEntry;
  /** How many calls alike in a row this stands for (the first's time, the last's outcome). */
  readonly times: number;
}

function sameOutcome(a: CallEntry, b: CallEntry): boolean {
  return a.method === b.method && a.status === b.status && a.message === b.message && a.image === b.image && a.containerId === b.containerId && a.containerName === b.containerName && a.policy?.rule === b.policy?.rule;
}

/**
 * The calls that tell a pod's story, in order: its lifecycle calls, every
 * failure and policy decision, and the first status that reports a container
 * exited. A call that fails again as the one before it did (kubelet's
 * retries) is counted on that one's line.
 */
export function storyEvents(calls: readonly CallEntry[]): StoryEvent[] {
  const exitSeen = new Set<string>();
  const events: { call: CallEntry; times: number }[] = [];
  for (const call of calls) {
    const exited = call.method === 'ContainerStatus' && call.code === 0 && call.containerState === 'exited' && call.containerId !== undefined && !exitSeen.has(call.containerId);
    if (exited && call.containerId !== undefined) exitSeen.add(call.containerId);
    if (!exited && !LIFECYCLE.has(call.method) && call.code === 0 && call.policy === undefined) continue;
    const last = events.at(-1);
    if (last !== undefined && call.code !== 0 && sameOutcome(last.call, call)) last.times++;
    else events.push({ call, times: 1 });
  }
  return events;
}

/** Container names by id, from the calls that name both. */
function containerNames(calls: readonly CallEntry[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const call of calls) if (call.containerId !== undefined && call.containerName !== undefined) names.set(call.containerId, call.containerName);
  return names;
}

/** What a call acts on, in words (see callTarget), with the pod's container names; a call naming nothing acts on the sandbox. */
function target(call: CallEntry | InFlightEntry, names: ReadonlyMap<string, string>): string {
  return callTarget(call, (id) => names.get(id)) ?? (call.method === 'PullImage' ? 'an image' : 'sandbox');
}

function containerLabel(id: string, name: string | undefined): string {
  const shortId = short(id) ?? id;
  return name === undefined ? shortId : `${name}(${shortId})`;
}

/** One story event as a line: time, method, outcome, duration, then what it acted on and what it was told. */
export function storyLine(event: StoryEvent, names: ReadonlyMap<string, string>, imageSizes: Readonly<Record<string, number>> = {}): string {
  const { call, times } = event;
  const size = call.method === 'PullImage' && call.code === 0 && call.image !== undefined ? imageSizes[call.image] : undefined;
  const status = times > 1 ? `${call.status} ×${times}` : call.status;
  const details: (string | undefined)[] = [
    call.method === 'PullImage' || call.method === 'CreateContainer' ? (call.image === undefined ? undefined : `image=${call.image}`) : undefined,
    size === undefined ? undefined : `size=${formatBytes(size)}`,
    call.containerId === undefined ? undefined : `container=${containerLabel(call.containerId, call.containerName ?? names.get(call.containerId))}`,
    call.sandboxId === undefined || call.containerId !== undefined ? undefined : `sandbox=${short(call.sandboxId) ?? ''}`,
    call.containerState === 'exited' ? `exited code=${call.exitCode ?? '?'}${call.reason === undefined ? '' : ` (${call.reason})`}` : undefined,
    call.policy === undefined ? undefined : `policy ${call.policy.verdict} by rule ${call.policy.rule}: ${call.policy.reason}`,
    call.message === undefined || call.policy?.verdict === 'denied' ? undefined : JSON.stringify(call.message),
  ];
  const head = `${clock(call.time)}  ${call.method.padEnd(22)} ${status.padEnd(18)} ${call.durationMs.toFixed(1).padStart(9)} ms`;
  return printable([head, ...details.filter((detail) => detail !== undefined)].join('  '));
}

/** A call of the pod still in flight, as a line of its story. */
export function inFlightStoryLine(call: InFlightEntry, names: ReadonlyMap<string, string>): string {
  const head = `${clock(call.time)}  ${call.method.padEnd(22)} ${'IN FLIGHT'.padEnd(18)} ${formatAge(call.ageMs).padStart(12)}`;
  return printable(`${head}  ${target(call, names)}`);
}

interface ContainerState {
  readonly name: string;
  state: 'created' | 'running' | 'stopped' | 'exited' | 'removed';
  exitCode?: number | undefined;
  reason?: string | undefined;
}

/** An image without its tag or digest: "registry.example/app:1.2" → "registry.example/app". */
function repository(image: string): string {
  const named = image.split('@')[0];
  const colon = named.lastIndexOf(':');
  return colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
}

/**
 * What a lifecycle call concerns, so that a success undoes only failures of
 * the same: a container (by name), an image repository (a pull of another tag
 * of it is the pod's image changed), or the sandbox.
 */
function concernOf(call: CallEntry, names: ReadonlyMap<string, string>): string {
  if (call.method === 'PullImage') return `image ${repository(call.image ?? '')}`;
  const acted = target(call, names);
  return acted === 'sandbox' ? 'sandbox' : `container ${acted}`;
}

/** A failure as the verdict says it; one of a container's calls names the container (its message seldom does). */
function failureVerdict(call: CallEntry, names: ReadonlyMap<string, string>): string {
  if (call.policy?.verdict === 'denied') return `denied by policy rule ${call.policy.rule}: ${call.policy.reason}`;
  const text = call.message;
  const message = text === undefined ? '' : ` ${text.length > MAX_VERDICT_MESSAGE ? `${text.slice(0, VERDICT_HEAD)}…${text.slice(-VERDICT_TAIL)}` : text}`;
  const concern = concernOf(call, names);
  const acted = concern.startsWith('container ') ? ` ${target(call, names)}` : '';
  return `${call.method}${acted} failed: ${call.status}${message}`;
}

function containersVerdict(containers: readonly ContainerState[]): string | undefined {
  const live = containers.filter((container) => container.state !== 'removed');
  if (live.length === 0) return undefined;
  const named = (state: ContainerState['state']): string[] => live.filter((container) => container.state === state).map((container) => container.name);
  const parts: string[] = [];
  for (const container of live) {
    if (container.state === 'exited') parts.push(`${container.name} exited with code ${container.exitCode ?? '?'}${container.reason === undefined ? '' : ` (${container.reason})`}`);
  }
  const running = named('running');
  const stopped = named('stopped');
  const created = named('created');
  if (running.length > 0) parts.push(`running (${running.join(', ')})`);
  if (stopped.length > 0) parts.push(`stopped (${stopped.join(', ')})`);
  if (created.length > 0) parts.push(`created, not started (${created.join(', ')})`);
  return parts.join('; ');
}

/**
 * One line that says where the pod stands, from its calls in order and those
 * in flight: what it waits on; else its sandbox gone (and the failure before);
 * else its containers' states and the failure or denial no later success
 * undid (one container's failure is not undone by another's success).
 */
export function podVerdict(calls: readonly CallEntry[], inFlight: readonly InFlightEntry[]): string {
  const names = containerNames(calls);
  const waiting = inFlight.find((call) => LIFECYCLE.has(call.method));
  if (waiting !== undefined) return `waiting ${formatAge(waiting.ageMs)} on ${waiting.method} ${target(waiting, names)}`;
  // The failures no later success undid, by method and concern; the latest last.
  const unresolved = new Map<string, { readonly call: CallEntry; readonly concern: string }>();
  const undo = (concern: string, method?: string): void => {
    for (const [key, failed] of unresolved) if (failed.concern === concern && (method === undefined || failed.call.method === method)) unresolved.delete(key);
  };
  let sandbox: { state: 'ready' | 'stopped' | 'removed'; time: string } | undefined;
  const containers = new Map<string, ContainerState>();
  for (const call of calls) {
    const container = call.containerId === undefined ? undefined : containers.get(call.containerId);
    if (call.method === 'ContainerStatus' && call.containerState === 'exited' && container !== undefined && container.state !== 'removed') {
      container.state = 'exited';
      container.exitCode = call.exitCode;
      container.reason = call.reason;
    }
    if (!LIFECYCLE.has(call.method)) continue;
    const concern = concernOf(call, names);
    if (call.code !== 0) {
      const key = `${call.method} ${concern}`;
      unresolved.delete(key);
      unresolved.set(key, { call, concern });
      continue;
    }
    // A new sandbox starts the pod over: what failed before it is history.
    if (call.method === 'RunPodSandbox') unresolved.clear();
    // Taking a thing down undoes only a failure to take it down.
    else if (TEARDOWN.has(call.method)) undo(concern, call.method);
    else {
      undo(concern);
      // A container made from an image: that image is on the node, whatever its pulls said.
      if (call.method === 'CreateContainer' && call.image !== undefined) undo(concernOf({ ...call, method: 'PullImage' }, names));
    }
    if (call.method === 'RunPodSandbox') sandbox = { state: 'ready', time: call.time };
    else if (call.method === 'StopPodSandbox' && sandbox?.state !== 'removed') sandbox = { state: 'stopped', time: call.time };
    else if (call.method === 'RemovePodSandbox') sandbox = { state: 'removed', time: call.time };
    else if (call.method === 'CreateContainer' && call.containerId !== undefined) containers.set(call.containerId, { name: call.containerName ?? short(call.containerId) ?? '?', state: 'created' });
    else if (container !== undefined) {
      if (call.method === 'StartContainer') container.state = 'running';
      else if (call.method === 'StopContainer' && container.state !== 'exited') container.state = 'stopped';
      else if (call.method === 'RemoveContainer') container.state = 'removed';
    }
  }
  const failure = [...unresolved.values()].at(-1)?.call;
  if (sandbox !== undefined && sandbox.state !== 'ready') {
    const gone = `sandbox ${sandbox.state} at ${clock(sandbox.time)}`;
    return failure === undefined ? gone : `${gone}; before that, ${failureVerdict(failure, names)}`;
  }
  const states = containersVerdict([...containers.values()]);
  if (failure !== undefined) return states === undefined ? failureVerdict(failure, names) : `${states}; ${failureVerdict(failure, names)}`;
  if (states !== undefined) return states;
  if (sandbox !== undefined) return 'sandbox ready; no container created yet';
  return 'no call that starts or stops this pod is held (only status and list calls)';
}

/** The pod's story as lines, oldest first, then what is in flight for it now; pulls with the image's size, where known. */
export function storyLines(calls: readonly CallEntry[], inFlight: readonly InFlightEntry[], imageSizes: Readonly<Record<string, number>> = {}): string[] {
  const names = containerNames(calls);
  return [...storyEvents(calls).map((event) => storyLine(event, names, imageSizes)), ...inFlight.map((call) => inFlightStoryLine(call, names))];
}
