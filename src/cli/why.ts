import type { PodHistory } from '../telemetry/recorder/pod-history.js';
import { getJson } from './admin-client.js';
import { clock, printable } from './call-line.js';
import { podVerdict, storyLines } from './pod-story.js';

/** NAMESPACE/NAME as `criscope why` takes it; throws a TypeError naming the argument. */
export function parsePodName(text: string | undefined): { namespace: string; name: string } {
  const match = text === undefined ? null : /^([^/\s]+)\/([^/\s]+)$/.exec(text);
  if (match === null) throw new TypeError(text === undefined ? 'why needs the pod, as NAMESPACE/NAME' : `why takes the pod as NAMESPACE/NAME, not "${text}"`);
  return { namespace: match[1], name: match[2] };
}

/**
 * Asks criscope for a pod's history and prints it, oldest first, then a
 * one-line verdict; exits 1 when criscope holds no call of the pod.
 */
export async function why(socketPath: string, pod: { namespace: string; name: string }, out: NodeJS.WritableStream): Promise<number> {
  const history = await getJson<PodHistory>(socketPath, `/v1/pods/${encodeURIComponent(pod.namespace)}/${encodeURIComponent(pod.name)}/history`);
  const podName = `${pod.namespace}/${pod.name}`;
  if (history.calls.length === 0 && history.inFlight.length === 0) {
    const held = history.held.since === undefined ? 'holds no call at all' : `holds ${history.held.calls} calls, since ${clock(history.held.since)}`;
    out.write(`criscope knows no call of pod ${podName}: its flight recorder ${held} (a pod gone longer ago is forgotten; check the name)\n`);
    return 1;
  }
  const uids = [...new Set(history.calls.map((call) => call.podUid).filter((uid) => uid !== undefined))];
  const identity = uids.length === 1 ? ` (uid ${uids[0]})` : uids.length > 1 ? ` (${uids.length} pods of this name: uids ${uids.join(', ')})` : '';
  // The uids and the verdict (a runtime's message among it) come from CRI clients and the runtime: no terminal escapes reach the screen.
  out.write(`${printable(`pod ${podName}${identity}: ${history.calls.length} calls held, ${history.inFlight.length} in flight`)}\n`);
  for (const line of storyLines(history.calls, history.inFlight, history.imageSizes)) out.write(`${line}\n`);
  out.write(`verdict: ${printable(podVerdict(history.calls, history.inFlight))}\n`);
  return 0;
}
