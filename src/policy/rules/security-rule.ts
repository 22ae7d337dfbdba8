/**
 * The `security` rule: the pod-security settings a sandbox or container asks
 * for (privilege, host namespaces, capabilities, host paths, the user).
 */
import { posix } from 'node:path';
import { z } from 'zod';
import type { PolicySubject, RuleChecks, SecuritySubject, Violation } from '../types.js';
import type { PodIdentity } from '../../cri/pod-identity.js';

const METHODS: ReadonlySet<string> = new Set(['RunPodSandbox', 'CreateContainer']);

const absolutePath = z.string().refine((path) => path.startsWith('/'), { message: 'must be an absolute path such as "/var/log"' });

/** The kind-specific fields; the policy file adds kind, name, mode, match and exempt. */
export const securityRuleSchema = z
  .object({
    denyPrivileged: z.boolean().optional(),
    denyHostNetwork: z.boolean().optional(),
    denyHostPID: z.boolean().optional(),
    denyHostIPC: z.boolean().optional(),
    /** Capabilities a container may add; left out, any. */
    allowedCapabilities: z.array(z.string().min(1)).optional(),
    /** Host path prefixes mounts may come from; left out, any. */
    allowedHostPaths: z.array(absolutePath).optional(),
    /**
     * kubelet hands every volume (emptyDir, secrets, the service account
     * token, etc-hosts, the termination log) to CRI as a host path under
     * <kubeletRootDir>/pods/, so those are always allowed.
     */
    kubeletRootDir: absolutePath.default('/var/lib/kubelet'),
    requireRunAsNonRoot: z.boolean().optional(),
  })
  .strict()
  .refine(
    (rule) =>
      [rule.denyPrivileged, rule.denyHostNetwork, rule.denyHostPID, rule.denyHostIPC, rule.requireRunAsNonRoot].includes(true) ||
      rule.allowedCapabilities !== undefined ||
      rule.allowedHostPaths !== undefined,
    { message: 'set at least one check (denyPrivileged, denyHostNetwork, denyHostPID, denyHostIPC, allowedCapabilities, allowedHostPaths, requireRunAsNonRoot)' },
  );

export type SecurityRuleSettings = z.output<typeof securityRuleSchema>;

/** "cap_sys_admin", "CAP_SYS_ADMIN" and "SYS_ADMIN" are one capability. */
function capabilityName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice('CAP_'.length) : upper;
}

/** A path with nothing to resolve: no ".", "..", doubled or trailing slash (kubelet's paths, as a rule). */
// dotAll ("s"): a newline inside a path must not hide a ".." after it.
const NOTHING_TO_RESOLVE = /^(?!.*(\/\/|\/\.\.?(\/|$)|\/$))\//s;

/** ".", "..", duplicate and trailing slashes resolved, so prefixes compare safely; "/" becomes "". */
function normalised(path: string): string {
  if (NOTHING_TO_RESOLVE.test(path)) return path;
  return posix.normalize(path).replace(/\/+$/, '');
}

/** Both normalised: whether `path` is `directory` or below it ("/var/logs" is not below "/var/log"). */
function isWithin(path: string, directory: string): boolean {
  return path === directory || path.startsWith(`${directory}/`);
}

type Check = (security: SecuritySubject, pod: PodIdentity) => Violation[];

function deny(check: string, reason: string): Violation[] {
  return [{ check, action: 'deny', reason }];
}

function capabilitiesCheck(allowed: readonly string[]): Check {
  const names = new Set(allowed.map(capabilityName));
  const listed = names.size === 0 ? 'none' : [...names].join(', ');
  return (security) =>
    names.has('ALL')
      ? []
      : [...new Set(security.addedCapabilities.map(capabilityName))]
          .filter((name) => !names.has(name))
          .flatMap((name) => deny('capabilities', `capability "${name}" is not in the allowed list (${listed})`));
}

/**
 * kubelet's own volumes are allowed below this pod's directory only, so a
 * hostPath into another pod's secrets is still judged; a pod without a usable
 * uid gets no such allowance (kubelet always sets one). A hostPath volume
 * mounted with subPath reaches CRI as a bind under <pod>/volume-subpaths/
 * too, and cannot be told apart.
 */
function hostPathCheck(allowed: readonly string[], kubeletRootDir: string): Check {
  const prefixes = allowed.map(normalised);
  const podsDir = normalised(posix.join(kubeletRootDir, 'pods'));
  const listed = allowed.length === 0 ? 'none' : allowed.join(', ');
  return (security, pod) => {
    const plainUid = pod.uid !== '' && pod.uid !== '.' && pod.uid !== '..' && !pod.uid.includes('/');
    const kubeletVolumes = plainUid ? `${podsDir}/${pod.uid}/` : undefined;
    return security.hostPaths
      .filter((path) => {
        const normal = normalised(path);
        return !(kubeletVolumes !== undefined && normal.startsWith(kubeletVolumes)) && !prefixes.some((prefix) => isWithin(normal, prefix));
      })
      .flatMap((path) => deny('hostPath', `host path "${path}" is outside the allowed prefixes (${listed})`));
  };
}

/**
 * criscope cannot see the image's USER, so an unset user counts as root.
 * Sandboxes are not judged: their user is the pause image's, and kubelet
 * copies the pod's runAsUser into every container's request anyway.
 */
function runAsNonRootCheck(security: SecuritySubject): Violation[] {
  if (security.kind === 'sandbox') return [];
  if (security.runAsUser === 0) return deny('runAsNonRoot', 'the container runs as uid 0 (root)');
  if (security.runAsUser !== undefined) return [];
  const name = security.runAsUsername;
  if (name === '') {
    return deny('runAsNonRoot', "the container sets no user to run as, so it may run as root (criscope cannot see the image's USER)");
  }
  return name === 'root' || name === '0' ? deny('runAsNonRoot', `the container runs as user "${name}" (root)`) : [];
}

function flagCheck(check: string, isSet: (security: SecuritySubject) => boolean, what: string): Check {
  return (security) => (isSet(security) ? deny(check, `the ${security.kind} ${what}`) : []);
}

export function securityRule(settings: SecurityRuleSettings): RuleChecks {
  const checks: Check[] = [];
  if (settings.denyPrivileged === true) checks.push(flagCheck('privileged', (s) => s.privileged, 'is privileged'));
  if (settings.denyHostNetwork === true) {
    checks.push(flagCheck('hostNetwork', (s) => s.hostNetwork, 'uses the host network namespace'));
  }
  if (settings.denyHostPID === true) checks.push(flagCheck('hostPID', (s) => s.hostPid, 'uses the host PID namespace'));
  if (settings.denyHostIPC === true) checks.push(flagCheck('hostIPC', (s) => s.hostIpc, 'uses the host IPC namespace'));
  if (settings.allowedCapabilities !== undefined) checks.push(capabilitiesCheck(settings.allowedCapabilities));
  if (settings.allowedHostPaths !== undefined) checks.push(hostPathCheck(settings.allowedHostPaths, settings.kubeletRootDir));
  if (settings.requireRunAsNonRoot === true) checks.push(runAsNonRootCheck);
  return {
    methods: METHODS,
    evaluate(subject: PolicySubject): readonly Violation[] {
      const security = subject.security;
      return security === undefined ? [] : checks.flatMap((check) => check(security, subject.pod));
    },
  };
}
