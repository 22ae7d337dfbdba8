/** What says what a call acts on: its method, and what its request names. */
export interface TargetFields {
  readonly method: string;
  readonly image?: string | undefined;
  readonly containerName?: string | undefined;
  readonly containerId?: string | undefined;
}

/**
 * What a call acts on, in words, the same wherever criscope shows a call in
 * flight (why, top, flight show): the image a pull pulls, else the container
 * it makes or starts (by name; `nameOf` may know the name of an id), else an
 * image it names; undefined when it names none of these (a sandbox's calls).
 */
export function callTarget(call: TargetFields, nameOf: (containerId: string) => string | undefined = () => undefined): string | undefined {
  if (call.method === 'PullImage' && call.image !== undefined) return call.image;
  if (call.containerName !== undefined) return call.containerName;
  // Cut to a prefix, as crictl shows ids (and accepts them back).
  if (call.containerId !== undefined) return nameOf(call.containerId) ?? `container ${call.containerId.slice(0, 12)}`;
  return call.image;
}
