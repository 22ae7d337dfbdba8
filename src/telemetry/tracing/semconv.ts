/**
 * The semantic-convention names criscope's spans use, kept here as constants
 * (as OpenTelemetry's own instrumentations do) rather than imported from the
 * incubating entry point, whose exports may change between releases.
 */

// RPC conventions as containerd and CRI-O emit them today.
export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

// The newer RPC conventions, chosen with OTEL_SEMCONV_STABILITY_OPT_IN=rpc (or rpc/dup for both).
export const ATTR_RPC_SYSTEM_NAME = 'rpc.system.name';
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
export const ATTR_ERROR_TYPE = 'error.type';

// Kubernetes and container resource conventions, used on spans for the call's subject.
export const ATTR_K8S_POD_NAME = 'k8s.pod.name';
export const ATTR_K8S_POD_UID = 'k8s.pod.uid';
export const ATTR_K8S_NAMESPACE_NAME = 'k8s.namespace.name';
export const ATTR_K8S_CONTAINER_NAME = 'k8s.container.name';
export const ATTR_K8S_NODE_NAME = 'k8s.node.name';
export const ATTR_CONTAINER_ID = 'container.id';
export const ATTR_CONTAINER_IMAGE_NAME = 'container.image.name';
export const ATTR_CONTAINER_IMAGE_TAGS = 'container.image.tags';
export const ATTR_CONTAINER_IMAGE_REPO_DIGESTS = 'container.image.repo_digests';
export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_SERVICE_VERSION = 'service.version';

// No convention exists for these; sandbox.id is the name containerd's own CRI spans use.
export const ATTR_SANDBOX_ID = 'sandbox.id';
export const ATTR_STREAM_MESSAGES = 'criscope.stream.messages';
export const ATTR_ANSWERED_BY_CRISCOPE = 'criscope.answered_by_criscope';
export const ATTR_POD_START_RESULT = 'criscope.pod_start.result';
export const ATTR_POD_START_CONTAINERS = 'criscope.pod_start.containers';
export const ATTR_POD_START_FAILED_CALLS = 'criscope.pod_start.failed_calls';
export const ATTR_POLICY_RESULT = 'criscope.policy.result';
export const EVENT_POLICY_VIOLATION = 'criscope.policy.violation';
export const ATTR_POLICY_RULE = 'criscope.policy.rule';
export const ATTR_POLICY_ACTION = 'criscope.policy.action';
export const ATTR_POLICY_MODE = 'criscope.policy.mode';
export const ATTR_POLICY_REASON = 'criscope.policy.reason';

/** Which RPC attribute set OTEL_SEMCONV_STABILITY_OPT_IN asks for. */
export interface RpcConventions {
  readonly old: boolean;
  readonly stable: boolean;
}

export function rpcConventions(optIn: string | undefined): RpcConventions {
  const options = new Set((optIn ?? '').split(',').map((option) => option.trim()));
  if (options.has('rpc/dup')) return { old: true, stable: true };
  if (options.has('rpc')) return { old: false, stable: true };
  return { old: true, stable: false };
}
