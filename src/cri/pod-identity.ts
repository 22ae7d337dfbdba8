/** The pod a call concerns. Unknown parts are empty: a rule scoped to a namespace then does not apply. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** The pod's labels, as kubelet gave them in its sandbox config. */
  readonly labels: Readonly<Record<string, string>>;
}
