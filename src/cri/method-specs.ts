/** What a CRI call says about the pod, container and image it concerns. */
export interface CriIdentity {
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  sandboxId?: string;
  containerId?: string;
  containerName?: string;
  image?: string;
  exitCode?: number;
  /** A ContainerStatus answer's runtime.v1 ContainerState (2 = exited). */
  containerState?: number;
  /** A ContainerStatus answer's short reason, such as "OOMKilled". */
  reason?: string;
}

/** The identity fields read as numbers; all others are strings. */
export const NUMERIC_IDENTITY_FIELDS: ReadonlySet<IdentityField> = new Set<IdentityField>(['exitCode', 'containerState']);

export type IdentityField = keyof CriIdentity;

/** Dotted proto field paths (as in the .proto, snake_case) to read each identity field from. */
export type IdentityPaths = Partial<Record<IdentityField, string>>;

/** The part a call plays in starting a pod, in the order kubelet makes them. */
export type PodStartStep = 'run-sandbox' | 'pull-image' | 'create-container' | 'start-container' | 'stop-sandbox';

/**
 * Where a policy-relevant request keeps what the policy judges: dotted proto
 * field paths (snake_case) from the request's root.
 */
export interface PolicyPaths {
  /** A PodSandboxConfig: the pod's namespace, name, uid and labels. */
  readonly podConfig?: string;
  /** A container id, for calls that name only the container (its pod is looked up). */
  readonly containerId?: string;
  /** A sandbox id, for calls that name only the pod sandbox (its pod is looked up). */
  readonly sandboxId?: string;
  /** An ImageSpec naming an image to pull (by name, from a registry). */
  readonly image?: string;
  /**
   * An ImageSpec naming an image the runtime already has: containerd takes a
   * name, an image id or an id prefix there, so policy asks the runtime what
   * it resolves to.
   */
  readonly localImage?: string;
  /** A LinuxContainerResources message, which a clamp may rewrite. */
  readonly resources?: string;
  /** A Linux security context, of a sandbox or of a container. */
  readonly securityContext?: { readonly of: 'sandbox' | 'container'; readonly path: string };
  /** The repeated Mount field of a container's config. */
  readonly mounts?: string;
}

export interface MethodSpec {
  readonly request?: IdentityPaths;
  readonly response?: IdentityPaths;
  /** A repeated field of the response whose length the record counts (list calls). */
  readonly responseItems?: string;
  /**
   * kubelet's operation_type label for this call, where it is not the method's
   * name in snake_case with "pod_sandbox" written "podsandbox".
   */
  readonly operationType?: string;
  readonly podStartStep?: PodStartStep;
  /** The response tells whether a container has exited, and how. */
  readonly reportsContainerExit?: true;
  /** Present for the calls policy judges (before they reach the runtime). */
  readonly policy?: PolicyPaths;
}

const podFrom = (config: string): IdentityPaths => ({
  podName: `${config}.metadata.name`,
  podNamespace: `${config}.metadata.namespace`,
  podUid: `${config}.metadata.uid`,
});
const bySandbox: MethodSpec = { request: { sandboxId: 'pod_sandbox_id' } };
const byContainer: MethodSpec = { request: { containerId: 'container_id' } };

/**
 * The one table of per-method behaviour: which request and response fields
 * identify the pod, container and image of each runtime.v1 call, kubelet's
 * name for it, its part in a pod start, and what policy judges in it. A
 * method not named here is still relayed and recorded, with no identity.
 */
export const METHOD_SPECS: Readonly<Record<string, MethodSpec>> = {
  RunPodSandbox: {
    request: podFrom('config'),
    response: { sandboxId: 'pod_sandbox_id' },
    podStartStep: 'run-sandbox',
    policy: { podConfig: 'config', securityContext: { of: 'sandbox', path: 'config.linux.security_context' } },
  },
  StopPodSandbox: { ...bySandbox, podStartStep: 'stop-sandbox' },
  RemovePodSandbox: bySandbox,
  PodSandboxStatus: {
    request: { sandboxId: 'pod_sandbox_id' },
    response: podFrom('status'),
  },
  ListPodSandbox: { responseItems: 'items' },
  PortForward: bySandbox,
  PodSandboxStats: bySandbox,
  ListPodSandboxStats: { responseItems: 'stats' },
  UpdatePodSandboxResources: { ...bySandbox, policy: { sandboxId: 'pod_sandbox_id', resources: 'resources' } },
  CreateContainer: {
    request: {
      ...podFrom('sandbox_config'),
      sandboxId: 'pod_sandbox_id',
      containerName: 'config.metadata.name',
      image: 'config.image.image',
    },
    response: { containerId: 'container_id' },
    podStartStep: 'create-container',
    policy: {
      podConfig: 'sandbox_config',
      sandboxId: 'pod_sandbox_id',
      localImage: 'config.image',
      resources: 'config.linux.resources',
      securityContext: { of: 'container', path: 'config.linux.security_context' },
      mounts: 'config.mounts',
    },
  },
  StartContainer: { ...byContainer, podStartStep: 'start-container' },
  StopContainer: byContainer,
  RemoveContainer: byContainer,
  ListContainers: { responseItems: 'containers' },
  ContainerStatus: {
    request: { containerId: 'container_id' },
    response: {
      containerName: 'status.metadata.name',
      image: 'status.image.image',
      exitCode: 'status.exit_code',
      containerState: 'status.state',
      reason: 'status.reason',
    },
    reportsContainerExit: true,
  },
  UpdateContainerResources: { ...byContainer, operationType: 'update_container', policy: { containerId: 'container_id', resources: 'linux' } },
  ReopenContainerLog: byContainer,
  ExecSync: { request: { containerId: 'container_id' }, response: { exitCode: 'exit_code' } },
  Exec: byContainer,
  Attach: byContainer,
  ContainerStats: byContainer,
  ListContainerStats: { responseItems: 'stats' },
  CheckpointContainer: byContainer,
  ListImages: { responseItems: 'images' },
  ImageStatus: { request: { image: 'image.image' } },
  PullImage: {
    request: { ...podFrom('sandbox_config'), image: 'image.image' },
    podStartStep: 'pull-image',
    policy: { podConfig: 'sandbox_config', image: 'image' },
  },
  RemoveImage: { request: { image: 'image.image' } },
};
