import type { CallEntry } from './call-entry.js';

/** The most sandbox and container ids remembered; the oldest are forgotten first. */
const MAX_IDS = 20_000;

interface PodName {
  readonly podNamespace: string | undefined;
  readonly podName: string;
  readonly podUid: string | undefined;
}

/**
 * Which pod each sandbox and container belongs to, learnt from the calls that
 * name both (RunPodSandbox, CreateContainer), so that a call naming only a
 * container (StartContainer, StopContainer) is still shown with its pod.
 */
export class PodIndex {
  private readonly pods = new Map<string, PodName>();

  /** The entry with its pod filled in from an id it names, when it names no pod itself. */
  complete(entry: CallEntry): CallEntry {
    if (entry.podName !== undefined) {
      const pod: PodName = { podNamespace: entry.podNamespace, podName: entry.podName, podUid: entry.podUid };
      if (entry.sandboxId !== undefined) this.remember(entry.sandboxId, pod);
      if (entry.containerId !== undefined) this.remember(entry.containerId, pod);
      return entry;
    }
    const known = (entry.containerId === undefined ? undefined : this.pods.get(entry.containerId)) ?? (entry.sandboxId === undefined ? undefined : this.pods.get(entry.sandboxId));
    return known === undefined ? entry : { ...entry, ...known };
  }

  private remember(id: string, pod: PodName): void {
    this.pods.delete(id);
    this.pods.set(id, pod);
    if (this.pods.size > MAX_IDS) this.pods.delete(this.pods.keys().next().value as string);
  }
}
