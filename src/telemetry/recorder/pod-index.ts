/** What the index reads and fills in: a finished call's entry, or one in flight. */
interface PodFields {
  readonly podNamespace?: string | undefined;
  readonly podName?: string | undefined;
  readonly podUid?: string | undefined;
  readonly sandboxId?: string | undefined;
  readonly containerId?: string | undefined;
}

/** The most sandbox and container ids remembered; those learnt longest ago are forgotten first. */
const MAX_IDS = 20_000;

export interface PodName {
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

  /**
   * For a finished call: learns the pod of the ids a call naming its pod
   * carries (and returns undefined, its own pod standing), or finds the pod of
   * a call that names none from an id it names (undefined when none is known).
   */
  learnOrFind(fields: PodFields): PodName | undefined {
    const podName = fields.podName;
    if (podName === undefined) return this.knownPod(fields);
    if (fields.sandboxId !== undefined) this.remember(fields.sandboxId, podName, fields);
    if (fields.containerId !== undefined) this.remember(fields.containerId, podName, fields);
    return undefined;
  }

  /** The entry with its pod filled in, learning nothing from it (a call in flight has not been answered yet). */
  completeOnly<Entry extends PodFields>(entry: Entry): Entry {
    const known = entry.podName === undefined ? this.knownPod(entry) : undefined;
    return known === undefined ? entry : { ...entry, ...known };
  }

  private knownPod(fields: PodFields): PodName | undefined {
    return (fields.containerId === undefined ? undefined : this.pods.get(fields.containerId)) ?? (fields.sandboxId === undefined ? undefined : this.pods.get(fields.sandboxId));
  }

  /** Learns (or refreshes) an id's pod; kubelet asks about the same containers all the time, so one already known costs a look-up only. */
  private remember(id: string, podName: string, entry: PodFields): void {
    const known = this.pods.get(id);
    if (known !== undefined && known.podName === podName && known.podNamespace === entry.podNamespace && known.podUid === entry.podUid) return;
    const pod: PodName = { podNamespace: entry.podNamespace, podName, podUid: entry.podUid };
    this.pods.delete(id);
    this.pods.set(id, pod);
    if (this.pods.size > MAX_IDS) this.pods.delete(this.pods.keys().next().value as string);
  }
}
