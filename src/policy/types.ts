/**
 * The shapes policy evaluation works on. Evaluation is pure: the caller
 * decodes the request and looks up the pod and image first (through the
 * `PolicyLookups` interface), then every rule reads only a `PolicySubject`.
 */
import type { MessageObject } from '../cri/message-object.js';
import type { PodIdentity } from '../cri/pod-identity.js';
import type { PolicyAction, PolicyMode, ResourceClamp } from '../cri/policy-decision.js';

/** The image a call concerns (PullImage, CreateContainer). */
export interface ImageSubject {
  /** The reference exactly as the request gave it: a name, or an image id such as "sha256:…". */
  readonly given: string;
  /**
   * The names to judge: the given reference when it is a name, kubelet's
   * user_specified_image, or, for an image id, the runtime's repo tags and
   * repo digests for it. Empty when `unresolved` says why.
   */
  readonly names: readonly string[];
  /** Why an image id could not be resolved to names. */
  readonly unresolved?: string;
}

/** A LinuxContainerResources message of the request (a container's, or the pod's). */
export interface ResourceSubject {
  /** 0 when unset (the runtime's default period, 100 ms, then applies). */
  readonly cpuPeriod: number;
  /** 0 or negative when unset: no CPU limit. */
  readonly cpuQuota: number;
  /** 0 when unset: no memory limit. */
  readonly memoryLimitBytes: number;
  /** Raw cgroup v2 settings ("memory.max", "cpu.max"), which can set limits too. */
  readonly unified: Readonly<Record<string, string>>;
}

/** The security-relevant settings of a sandbox (RunPodSandbox) or a container (CreateContainer). */
export interface SecuritySubject {
  readonly kind: 'sandbox' | 'container';
  readonly privileged: boolean;
  readonly hostNetwork: boolean;
  readonly hostPid: boolean;
  readonly hostIpc: boolean;
  /** Capabilities added to the default set, as the request names them ("NET_ADMIN", "CAP_SYS_ADMIN", "ALL"). */
  readonly addedCapabilities: readonly string[];
  /** The uid to run as, when the request sets one. */
  readonly runAsUser: number | undefined;
  /** The user name to run as; empty when unset. */
  readonly runAsUsername: string;
  /** The host side of every mount (containers only; kubelet's own volumes included). */
  readonly hostPaths: readonly string[];
}

/** Everything a rule may read about one policy-relevant call. */
export interface PolicySubject {
  /** The method's name, e.g. "CreateContainer". */
  readonly method: string;
  readonly request: MessageObject;
  readonly pod: PodIdentity;
  readonly image?: ImageSubject;
  readonly resources?: ResourceSubject;
  readonly security?: SecuritySubject;
}

/** One rule's finding about one call. */
export interface Violation {
  /** The check within the rule ("allowed", "memory", …); its id is "<rule>.<check>". */
  readonly check: string;
  /** Why, in words kubelet will show in the pod's events. */
  readonly reason: string;
  readonly action: PolicyAction;
  /** For `clamp`: the fields to rewrite. */
  readonly clamps?: readonly ResourceClamp[];
}

/** Which pods a rule applies to. */
export interface PodScope {
  applies(pod: PodIdentity): boolean;
}

/** A compiled rule from the policy file. */
export interface PolicyRule extends RuleChecks {
  readonly kind: 'images' | 'resources' | 'security' | 'cel';
  /** The rule's name in the file, or its kind ("images"): the first part of every violation's id. */
  readonly name: string;
  readonly mode: PolicyMode;
  readonly scope: PodScope;
}

/**
 * What each kind of rule (images, resources, security, cel) compiles to; the
 * policy file adds the name, mode and scope every rule shares.
 */
export interface RuleChecks {
  /** The methods this kind of rule judges. */
  readonly methods: ReadonlySet<string>;
  /** True when the rule reads `subject.request` (a custom rule may): the whole request is then decoded for it. */
  readonly readsRequest?: boolean;
  evaluate(subject: PolicySubject): readonly Violation[];
}
