// What the runtime of a busy node answers kubelet: 110 pods (kubelet's default maximum), 300
// containers, 50 images, shaped like containerd's answers for kubelet-created pods. The kubelet
// stub serves these, so the kubelet-shaped load carries realistic sizes.

import { createHash } from "node:crypto";

export const NODE_POD_COUNT = 110;
export const NODE_CONTAINER_COUNT = 300;
export const NODE_IMAGE_COUNT = 50;

const CREATED_AT_NS = 1_700_000_000_000_000_000n;
const APPS = ["nginx", "redis", "api-gateway", "metrics-exporter", "checkout", "search", "worker", "cache-warmer"];
const SIDECARS = ["envoy", "log-shipper"];
const NAMESPACES = ["default", "kube-system", "monitoring", "payments", "search", "ingress"];

interface NodePod {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly app: string;
  readonly index: number;
}

interface NodeContainer {
  readonly id: string;
  readonly name: string;
  readonly pod: NodePod;
  readonly imageIndex: number;
  readonly index: number;
}

export interface KubeletNode {
  readonly pods: readonly NodePod[];
  readonly containers: readonly NodeContainer[];
}

/** Deterministic, so every run and every path sees the same bytes. */
export function kubeletNode(): KubeletNode {
  const pods = Array.from({ length: NODE_POD_COUNT }, (_, index): NodePod => {
    const app = APPS[index % APPS.length] ?? "app";
    return {
      id: hexId("sandbox", index),
      name: `${app}-${hexId("rs", index).slice(0, 10)}-${hexId("pod", index).slice(0, 5)}`,
      namespace: NAMESPACES[index % NAMESPACES.length] ?? "default",
      uid: uid(index),
      app,
      index,
    };
  });
  // Every pod has its app container; the rest are sidecars, spread over the first pods.
  const containers = Array.from({ length: NODE_CONTAINER_COUNT }, (_, index): NodeContainer => {
    const pod = pods[index % pods.length] ?? pods[0];
    if (pod === undefined) throw new Error("a node needs at least one pod");
    const round = Math.floor(index / pods.length);
    const name = round === 0 ? pod.app : (SIDECARS[(round - 1) % SIDECARS.length] ?? "sidecar");
    return { id: hexId("container", index), name, pod, imageIndex: (pod.index + round * 7) % NODE_IMAGE_COUNT, index };
  });
  return { pods, containers };
}

export function versionAnswer(): object {
  return { version: "0.1.0", runtime_name: "containerd", runtime_version: "v1.7.24", runtime_api_version: "v1" };
}

export function listPodSandboxAnswer(node: KubeletNode): object {
  return {
    items: node.pods.map((pod) => ({
      id: pod.id,
      metadata: podMetadata(pod),
      state: "SANDBOX_READY",
      created_at: createdAt(pod.index),
      labels: podLabels(pod),
      annotations: podAnnotations(pod),
      runtime_handler: "",
    })),
  };
}

export function podSandboxStatusAnswer(pod: NodePod): object {
  return {
    status: {
      id: pod.id,
      metadata: podMetadata(pod),
      state: "SANDBOX_READY",
      created_at: createdAt(pod.index),
      network: { ip: podIp(pod.index), additional_ips: [] },
      linux: { namespaces: { options: { network: "POD", pid: "CONTAINER", ipc: "POD" } } },
      labels: podLabels(pod),
      annotations: podAnnotations(pod),
      runtime_handler: "",
    },
    info: {},
  };
}

export function listContainersAnswer(node: KubeletNode): object {
  return {
    containers: node.containers.map((container) => ({
      id: container.id,
      pod_sandbox_id: container.pod.id,
      metadata: { name: container.name, attempt: container.index % 3 },
      image: { image: imageDigest(container.imageIndex), user_specified_image: imageName(container.imageIndex) },
      image_ref: imageDigest(container.imageIndex),
      image_id: imageDigest(container.imageIndex),
      state: container.index % 23 === 0 ? "CONTAINER_EXITED" : "CONTAINER_RUNNING",
      created_at: createdAt(container.index),
      labels: containerLabels(container),
      annotations: containerAnnotations(container),
    })),
  };
}

export function containerStatusAnswer(container: NodeContainer): object {
  const podDirectory = `/var/lib/kubelet/pods/${container.pod.uid}`;
  return {
    status: {
      id: container.id,
      metadata: { name: container.name, attempt: container.index % 3 },
      state: "CONTAINER_RUNNING",
      created_at: createdAt(container.index),
      started_at: createdAt(container.index),
      finished_at: "0",
      exit_code: 0,
      image: { image: imageName(container.imageIndex) },
      image_ref: `${imageName(container.imageIndex).split(":")[0] ?? ""}@${imageDigest(container.imageIndex)}`,
      image_id: imageDigest(container.imageIndex),
      labels: containerLabels(container),
      annotations: containerAnnotations(container),
      mounts: [
        { container_path: "/etc/hosts", host_path: `${podDirectory}/etc-hosts` },
        { container_path: "/dev/termination-log", host_path: `${podDirectory}/containers/${container.name}/${hexId("log", container.index).slice(0, 8)}` },
        { container_path: "/var/run/secrets/kubernetes.io/serviceaccount", host_path: `${podDirectory}/volumes/kubernetes.io~projected/kube-api-access-${hexId("sa", container.pod.index).slice(0, 5)}`, readonly: true },
      ],
      log_path: `/var/log/pods/${container.pod.namespace}_${container.pod.name}_${container.pod.uid}/${container.name}/0.log`,
      resources: { linux: { cpu_period: "100000", cpu_quota: "50000", cpu_shares: "512", memory_limit_in_bytes: String(256 * 1024 * 1024), oom_score_adj: "936" } },
    },
    info: {},
  };
}

export function listContainerStatsAnswer(node: KubeletNode): object {
  const timestamp = String(CREATED_AT_NS + 3_600_000_000_000n);
  return {
    stats: node.containers.map((container) => ({
      attributes: {
        id: container.id,
        metadata: { name: container.name, attempt: container.index % 3 },
        labels: containerLabels(container),
        annotations: containerAnnotations(container),
      },
      cpu: { timestamp, usage_core_nano_seconds: { value: String(912_345_678_901 + container.index) }, usage_nano_cores: { value: String(12_345_678 + container.index) } },
      memory: {
        timestamp,
        working_set_bytes: { value: String(48_000_000 + container.index * 4096) },
        available_bytes: { value: String(220_000_000 - container.index * 4096) },
        usage_bytes: { value: String(52_000_000 + container.index * 4096) },
        rss_bytes: { value: String(40_000_000 + container.index * 4096) },
        page_faults: { value: String(120_000 + container.index) },
        major_page_faults: { value: String(container.index % 7) },
      },
      writable_layer: { timestamp, fs_id: { mountpoint: "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs" }, used_bytes: { value: "40960" }, inodes_used: { value: "12" } },
    })),
  };
}

export function listImagesAnswer(): object {
  return {
    images: Array.from({ length: NODE_IMAGE_COUNT }, (_, index) => ({
      id: imageDigest(index),
      repo_tags: [imageName(index)],
      repo_digests: [`${imageName(index).split(":")[0] ?? ""}@sha256:${hexId("manifest", index)}`],
      size: String(20_000_000 + index * 1_048_576),
      uid: index % 4 === 0 ? { value: "65532" } : undefined,
      username: "",
      spec: { image: imageDigest(index) },
      pinned: index < 2,
    })),
  };
}

export function imageFsInfoAnswer(): object {
  const usage = (mountpoint: string, used: number, inodes: number): object => ({
    timestamp: String(CREATED_AT_NS + 3_600_000_000_000n),
    fs_id: { mountpoint },
    used_bytes: { value: String(used) },
    inodes_used: { value: String(inodes) },
  });
  return {
    image_filesystems: [usage("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs", 7_516_192_768, 182_344)],
    container_filesystems: [usage("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs", 7_516_192_768, 182_344)],
  };
}

function podMetadata(pod: NodePod): object {
  return { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 };
}

function podLabels(pod: NodePod): Record<string, string> {
  return {
    app: pod.app,
    "pod-template-hash": hexId("rs", pod.index).slice(0, 10),
    "io.kubernetes.pod.name": pod.name,
    "io.kubernetes.pod.namespace": pod.namespace,
    "io.kubernetes.pod.uid": pod.uid,
  };
}

function podAnnotations(pod: NodePod): Record<string, string> {
  return {
    "kubernetes.io/config.seen": "2026-11-26T09:00:00.000000000Z",
    "kubernetes.io/config.source": "api",
    "prometheus.io/scrape": pod.index % 2 === 0 ? "true" : "false",
  };
}

function containerLabels(container: NodeContainer): Record<string, string> {
  return {
    "io.kubernetes.container.name": container.name,
    "io.kubernetes.pod.name": container.pod.name,
    "io.kubernetes.pod.namespace": container.pod.namespace,
    "io.kubernetes.pod.uid": container.pod.uid,
  };
}

function containerAnnotations(container: NodeContainer): Record<string, string> {
  return {
    "io.kubernetes.container.hash": hexId("hash", container.index).slice(0, 8),
    "io.kubernetes.container.restartCount": String(container.index % 3),
    "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
    "io.kubernetes.container.terminationMessagePolicy": "File",
    "io.kubernetes.pod.terminationGracePeriod": "30",
    "io.kubernetes.container.ports": `[{"name":"http","containerPort":${8000 + (container.index % 100)},"protocol":"TCP"}]`,
  };
}

function imageName(index: number): string {
  const app = APPS[index % APPS.length] ?? "app";
  return `registry.example.com/${NAMESPACES[index % NAMESPACES.length] ?? "default"}/${app}:v1.${index}.0`;
}

function imageDigest(index: number): string {
  return `sha256:${hexId("image", index)}`;
}

function createdAt(index: number): string {
  return String(CREATED_AT_NS + BigInt(index) * 1_000_000_007n);
}

function podIp(index: number): string {
  return `10.244.${Math.floor(index / 250)}.${(index % 250) + 2}`;
}

function hexId(kind: string, index: number): string {
  return createHash("sha256").update(`${kind}/${index}`).digest("hex");
}

function uid(index: number): string {
  const hex = hexId("uid", index);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
