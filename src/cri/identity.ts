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
}

export type IdentityField = keyof CriIdentity;

/** Dotted proto field paths (as in the .proto, snake_case) to read each identity field from. */
export type IdentityPaths = Partial<Record<IdentityField, string>>;

export interface MethodIdentitySpec {
  readonly request?: IdentityPaths;
  readonly response?: IdentityPaths;
  /** A repeated field of the response whose length the record counts (list calls). */
  readonly responseItems?: string;
}

const podFrom = (config: string): IdentityPaths => ({
  podName: `${config}.metadata.name`,
  podNamespace: `${config}.metadata.namespace`,
  podUid: `${config}.metadata.uid`,
});
const bySandbox: MethodIdentitySpec = { request: { sandboxId: 'pod_sandbox_id' } };
const byContainer: MethodIdentitySpec = { request: { containerId: 'container_id' } };

/**
 * The one table of per-method behaviour: which request and response fields
 * identify the pod, container and image of each runtime.v1 call. A method not
 * named here is still relayed and recorded, with no identity.
 */
export const IDENTITY_BY_METHOD: Readonly<Record<string, MethodIdentitySpec>> = {
  RunPodSandbox: { request: podFrom('config'), response: { sandboxId: 'pod_sandbox_id' } },
  StopPodSandbox: bySandbox,
  RemovePodSandbox: bySandbox,
  PodSandboxStatus: {
    request: { sandboxId: 'pod_sandbox_id' },
    response: podFrom('status'),
  },
  ListPodSandbox: { responseItems: 'items' },
  PortForward: bySandbox,
  PodSandboxStats: bySandbox,
  ListPodSandboxStats: { responseItems: 'stats' },
  UpdatePodSandboxResources: bySandbox,
  CreateContainer: {
    request: {
      ...podFrom('sandbox_config'),
      sandboxId: 'pod_sandbox_id',
      containerName: 'config.metadata.name',
      image: 'config.image.image',
    },
    response: { containerId: 'container_id' },
  },
  StartContainer: byContainer,
  StopContainer: byContainer,
  RemoveContainer: byContainer,
  ListContainers: { responseItems: 'containers' },
  ContainerStatus: {
    request: { containerId: 'container_id' },
    response: { containerName: 'status.metadata.name', image: 'status.image.image', exitCode: 'status.exit_code' },
  },
  UpdateContainerResources: byContainer,
  ReopenContainerLog: byContainer,
  ExecSync: { request: { containerId: 'container_id' }, response: { exitCode: 'exit_code' } },
  Exec: byContainer,
  Attach: byContainer,
  ContainerStats: byContainer,
  ListContainerStats: { responseItems: 'stats' },
  CheckpointContainer: byContainer,
  ListImages: { responseItems: 'images' },
  ImageStatus: { request: { image: 'image.image' } },
  PullImage: { request: { ...podFrom('sandbox_config'), image: 'image.image' } },
  RemoveImage: { request: { image: 'image.image' } },
};
