// The calls the bench times. Small ones are what kubelet sends most; the big one is a full ListContainers.

import type { CriClient } from "./cri-client.js";

export interface CallSpec {
  readonly label: string;
  invoke(client: CriClient): Promise<unknown>;
}

export function smallCallSpecs(containerId: string): readonly CallSpec[] {
  return [
    { label: "Version", invoke: (client) => client.runtime("Version", { version: "v1" }) },
    { label: "ContainerStatus", invoke: (client) => client.runtime("ContainerStatus", { container_id: containerId }) },
  ];
}

export function listContainersSpec(sizeLabel: string): CallSpec {
  return { label: `ListContainers ${sizeLabel}`, invoke: (client) => client.listContainersBytes() };
}
