// Reading the Kubernetes manifests in config/kubernetes/ as the API server and kubelet would
// read the parts the tests check: documents by kind and name, named ports, node selection,
// memory quantities.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string };
    readonly configMapKeyRef?: { readonly name: string; readonly key: string };
    readonly secretKeyRef?: { readonly name: string; readonly key: string };
  };
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly hostPort?: number;
  readonly protocol?: string;
}

export interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string; readonly host?: string };
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}

export interface SecurityContext {
  readonly privileged?: boolean;
  readonly runAsUser?: number;
  readonly runAsNonRoot?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly readOnlyRootFilesystem?: boolean;
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly unknown[];
  readonly ports?: readonly ContainerPort[];
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly volumeMounts?: readonly VolumeMount[];
  readonly securityContext?: SecurityContext;
  readonly resources?: { readonly requests?: Readonly<Record<string, string>>; readonly limits?: Readonly<Record<string, string>> };
}

export interface Volume {
  readonly name: string;
  readonly hostPath?: { readonly path: string; readonly type?: string };
  readonly configMap?: { readonly name: string };
  readonly secret?: { readonly secretName: string };
  readonly projected?: unknown;
  readonly emptyDir?: { readonly medium?: string; readonly sizeLimit?: string };
}

export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  readonly values?: readonly string[];
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly effect?: string;
}

export interface PodSpec {
  readonly nodeName?: string;
  readonly hostPID?: boolean;
  readonly hostNetwork?: boolean;
  readonly serviceAccountName?: string;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
  readonly affinity?: {
    readonly nodeAffinity?: {
      readonly requiredDuringSchedulingIgnoredDuringExecution?: {
        readonly nodeSelectorTerms: readonly { readonly matchExpressions?: readonly NodeSelectorRequirement[] }[];
      };
    };
  };
  readonly initContainers?: readonly Container[];
  readonly containers: readonly Container[];
  readonly volumes?: readonly Volume[];
}

export interface PodTemplate {
  readonly metadata: ObjectMeta;
  readonly spec: PodSpec;
}

export interface DaemonSet extends Manifest {
  readonly spec: { readonly selector: { readonly matchLabels: Readonly<Record<string, string>> }; readonly template: PodTemplate };
}

export interface Job extends Manifest {
  readonly spec: { readonly template: PodTemplate };
}

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort?: number | string;
}

export interface Service extends Manifest {
  readonly spec: {
    readonly clusterIP?: string;
    readonly publishNotReadyAddresses?: boolean;
    readonly selector: Readonly<Record<string, string>>;
    readonly ports: readonly ServicePort[];
  };
}

export interface ServiceMonitor extends Manifest {
  readonly spec: {
    readonly namespaceSelector?: { readonly matchNames?: readonly string[]; readonly any?: boolean };
    readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
    readonly endpoints: readonly { readonly port: string; readonly path?: string }[];
  };
}

/** Every document of a multi-document YAML text; a YAML error fails, naming the file. */
export function parseManifests(text: string, origin: string): Manifest[] {
  return parseAllDocuments(text).map((document, index) => {
    if (document.errors.length > 0) throw new Error(`${origin}: document ${index + 1}: ${document.errors[0]?.message ?? 'invalid YAML'}`);
    const value: unknown = document.toJS();
    if (typeof value !== 'object' || value === null || !('kind' in value) || !('apiVersion' in value) || !('metadata' in value)) {
      throw new Error(`${origin}: document ${index + 1} is not a Kubernetes object (apiVersion, kind, metadata)`);
    }
    return value as Manifest;
  });
}

export function readManifests(path: string): Manifest[] {
  return parseManifests(readFileSync(path, 'utf8'), path);
}

/** The one object of this kind (and name, when given); fails when there is none or several. */
export function findManifest<T extends Manifest>(manifests: readonly Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((manifest) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` named ${name}`}, found ${found.length}`);
  return found[0] as T;
}

export function findContainer(containers: readonly Container[] | undefined, name: string): Container {
  const container = containers?.find((candidate) => candidate.name === name);
  if (container === undefined) throw new Error(`no container named ${name}`);
  return container;
}

/** A probe's or a Service's port, a number or the name of one of the container's ports, as the number it means. */
export function resolvePort(port: number | string, container: Container): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((candidate) => candidate.name === port);
  if (named === undefined) throw new Error(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

/** The volume mounted at mountPath in the container, looked up in the pod's volumes. */
export function volumeAt(pod: PodSpec, container: Container, mountPath: string): Volume {
  const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === mountPath);
  if (mount === undefined) throw new Error(`container ${container.name} mounts nothing at ${mountPath}`);
  const volume = pod.volumes?.find((candidate) => candidate.name === mount.name);
  if (volume === undefined) throw new Error(`container ${container.name} mounts volume ${mount.name}, which the pod does not define`);
  return volume;
}

/** Whether the DaemonSet controller puts the pod on a node with these labels: its nodeSelector and its required node affinity. */
export function podFitsNode(pod: PodSpec, nodeLabels: Readonly<Record<string, string>>): boolean {
  const selected = Object.entries(pod.nodeSelector ?? {}).every(([key, value]) => nodeLabels[key] === value);
  return selected && nodeAffinityAdmits(pod, nodeLabels);
}

/** Whether a node with these labels satisfies the pod's required node affinity (the scheduler's and the DaemonSet controller's rule). */
export function nodeAffinityAdmits(pod: PodSpec, nodeLabels: Readonly<Record<string, string>>): boolean {
  const terms = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) return true;
  return terms.some((term) => (term.matchExpressions ?? []).every((requirement) => requirementHolds(requirement, nodeLabels)));
}

function requirementHolds(requirement: NodeSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const value = labels[requirement.key];
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1) return false;
      const difference = Number(value) - Number(values[0]);
      return requirement.operator === 'Gt' ? difference > 0 : difference < 0;
    }
  }
}

const QUANTITY_SUFFIXES: Readonly<Record<string, number>> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** A memory quantity (`512Mi`, `1G`, `300000000`) in bytes, as the API server reads it; fails on a form it does not know. */
export function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(quantity);
  const factor = QUANTITY_SUFFIXES[match?.[2] ?? ''];
  if (match === null || factor === undefined) throw new Error(`not a memory quantity this helper reads: ${quantity}`);
  return Number(match[1]) * factor;
}

/** Whether the tolerations let a pod onto (and keep it on) a node with any taint at all. */
export function toleratesEveryTaint(tolerations: readonly Toleration[] | undefined): boolean {
  return (tolerations ?? []).some((toleration) => toleration.operator === 'Exists' && toleration.key === undefined && toleration.effect === undefined);
}

/** A name the API server accepts for a node (an RFC 1123 subdomain). */
export function isValidNodeName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}
