import type protobuf from 'protobufjs';
import type { PolicyPaths } from '../cri/method-specs.js';
import type { CriMethod } from '../cri/method-table.js';
import { partialType } from '../cri/partial-type.js';
import { toMessageObject, type MessageObject } from '../cri/message-object.js';
import { findAmbiguousEncoding } from '../cri/repeated-messages.js';
import { fieldNumbers, setVarintField } from '../cri/wire-edit.js';
import { DECODE_RULE, SERVICES_RULE } from './built-in-rules.js';
import { decide, denialMessage } from './policy-decision.js';
import { policySubject, UNKNOWN_POD, type PolicyLookups } from './policy-subject.js';
import type { Policy } from './policy.js';
import type { ClampedField, GateVerdict, PolicyDecision, PolicyFinding, ResourceClamp } from '../cri/policy-decision.js';

/** Where a method's resources live on the wire, for rewriting them. */
interface ClampTarget {
  readonly path: readonly number[];
  readonly fields: Readonly<Record<ClampedField, number>>;
}

const CLAMPED_FIELDS: readonly ClampedField[] = ['cpu_period', 'cpu_quota', 'memory_limit_in_bytes'];

/** Two rules capping the same field: the lower cap holds. */
function lowestPerField(clamps: readonly ResourceClamp[]): ResourceClamp[] {
  const lowest = new Map<ClampedField, number>();
  for (const clamp of clamps) lowest.set(clamp.field, Math.min(clamp.value, lowest.get(clamp.field) ?? Infinity));
  return [...lowest].map(([field, value]) => ({ field, value }));
}

/**
 * Judges policy-relevant requests against the policy in force: decodes the
 * request, finds its pod and image (through look-ups the caller caches), runs
 * the rules, and rewrites the request when enforced clamps ask for it. The
 * policy can be replaced at any time; a call in judgement keeps the one it
 * started with. It is the relay's RequestGate, an interface the relay owns:
 * policy imports nothing from the relay.
 */
export class PolicyEngine {
  /** A policy is in force: every policy-relevant call comes before it. */
  readonly inForce = true;
  private readonly clampTargets = new Map<string, ClampTarget>();
  private readonly judgedFields = new Map<string, protobuf.Type>();

  constructor(
    private current: Policy,
    private readonly lookups: PolicyLookups,
  ) {}

  get policy(): Policy {
    return this.current;
  }

  replace(policy: Policy): void {
    this.current = policy;
  }

  /** CRI's own services pass; any other needs the policy's allowedServices (counted as the "services" rule). */
  refuses(path: string): GateVerdict | undefined {
    const service = grpcServiceOf(path);
    const policy = this.current;
    if (CRI_SERVICE.test(service) || policy.allowedServices.has(service)) return undefined;
    const finding: PolicyFinding = {
      rule: SERVICES_RULE,
      action: 'deny',
      mode: policy.mode,
      reason: `service "${service}" is not a CRI service, nor in the policy's allowedServices`,
    };
    const denial = policy.mode === 'enforce' ? denialMessage(finding, 0) : undefined;
    return { decision: { method: OTHER_METHOD, pod: UNKNOWN_POD, findings: [finding], denial, clamps: [] }, rewritten: undefined };
  }

  /** Whether the policy in force has any rule for this method: only such calls are held for judgement. */
  holds(method: CriMethod): boolean {
    return method.policy !== undefined && this.current.rulesFor(method.name).length > 0;
  }

  /**
   * Judges one request. `message` is its uncompressed payload, or undefined
   * with `unreadable` saying why criscope could not get it. A failure to judge
   * is treated as an undecodable request: denied under enforce.
   */
  async judge(method: CriMethod, message: Buffer | undefined, unreadable: string | undefined, rewritable: boolean): Promise<GateVerdict> {
    const policy = this.current;
    try {
      return await this.evaluate(policy, method, message, unreadable, rewritable);
    } catch (error) {
      return { ...this.undecodable(policy, method.name, `criscope could not judge the request: ${(error as Error).message}`), failure: error };
    }
  }

  private async evaluate(policy: Policy, method: CriMethod, message: Buffer | undefined, unreadable: string | undefined, rewritable: boolean): Promise<GateVerdict> {
    const paths = method.policy;
    if (paths === undefined) return allow(method.name);
    if (message === undefined) return this.undecodable(policy, method.name, unreadable ?? 'the request message is missing');
    // Only the fields the rules read are decoded, unless a custom rule reads the whole request.
    const type = policy.readsWholeRequest(method.name) ? method.requestType : this.judgedFieldsOf(method, paths);
    let decoded: protobuf.Message;
    try {
      const ambiguous = findAmbiguousEncoding(type, message);
      if (ambiguous !== undefined) return this.undecodable(policy, method.name, `the request's field "${ambiguous.path}" is encoded in a way criscope does not judge (${ambiguous.reason})`);
      decoded = type.decode(message);
    } catch (error) {
      return this.undecodable(policy, method.name, `the request cannot be decoded: ${(error as Error).message}`);
    }
    const view = (): MessageObject => toMessageObject(type, decoded);
    const subject = await policySubject(method.name, paths, decoded as unknown as MessageObject, view, this.lookups, policy.resolvesImages(method.name));
    const decision = decide(policy.rulesFor(method.name), subject);
    if (decision.clamps.length === 0) return { decision, rewritten: undefined };
    if (!rewritable) return { decision: tooLargeToRewrite(decision), rewritten: undefined };
    return { decision, rewritten: this.clamp(method, message, lowestPerField(decision.clamps)) };
  }

  private clamp(method: CriMethod, message: Buffer, clamps: readonly ResourceClamp[]): Buffer {
    const target = this.clampTarget(method);
    let rewritten = message;
    for (const clamp of clamps) rewritten = setVarintField(rewritten, target.path, target.fields[clamp.field], clamp.value);
    return rewritten;
  }

  /** The request type cut down to what the method table says policy reads, made once per method. */
  private judgedFieldsOf(method: CriMethod, paths: PolicyPaths): protobuf.Type {
    const known = this.judgedFields.get(method.name);
    if (known !== undefined) return known;
    const type = partialType(method.requestType, judgedPaths(paths), `${method.name}Judged`);
    this.judgedFields.set(method.name, type);
    return type;
  }

  /** Field numbers are found once per method, from the proto. */
  private clampTarget(method: CriMethod): ClampTarget {
    const known = this.clampTargets.get(method.name);
    if (known !== undefined) return known;
    const resourcesPath = method.policy?.resources;
    if (resourcesPath === undefined) throw new Error(`${method.name} has no resources to clamp`);
    const path = fieldNumbers(method.requestType, resourcesPath);
    const resourcesType = messageTypeAt(method.requestType, resourcesPath);
    const fields = Object.fromEntries(CLAMPED_FIELDS.map((name) => [name, resourcesType.fields[name].id])) as Record<ClampedField, number>;
    const target = { path, fields };
    this.clampTargets.set(method.name, target);
    return target;
  }

  /** Fail closed under enforce, forward under audit: counted either way, as a finding of the "decode" rule. */
  private undecodable(policy: Policy, method: string, reason: string): GateVerdict {
    const finding: PolicyFinding = { rule: DECODE_RULE, action: 'deny', mode: policy.mode, reason };
    const denial = policy.mode === 'enforce' ? denialMessage(finding, 0) : undefined;
    return { decision: { method, pod: UNKNOWN_POD, findings: [finding], denial, clamps: [] }, rewritten: undefined };
  }
}

const CRI_SERVICE = /^runtime\.v1(alpha2)?\.(RuntimeService|ImageService)$/;
/** The method label of calls outside CRI: their names come from the client, so they are not labels. */
const OTHER_METHOD = 'other';

/** The service a gRPC server routes `path` to: grpc-go strips one leading "/" and splits at the last "/". */
function grpcServiceOf(path: string): string {
  const unslashed = path.startsWith('/') ? path.slice(1) : path;
  const slash = unslashed.lastIndexOf('/');
  return slash < 0 ? unslashed : unslashed.slice(0, slash);
}

/** A clamp needs the whole request, which was too large to hold back: the clamp becomes a denial. */
function tooLargeToRewrite(decision: PolicyDecision): PolicyDecision {
  const clamped = decision.findings.find((finding) => finding.action === 'clamp' && finding.mode === 'enforce');
  const finding: PolicyFinding = clamped ?? { rule: DECODE_RULE, action: 'deny', mode: 'enforce', reason: 'a clamp could not be applied' };
  return { ...decision, denial: `${denialMessage(finding, 0)}; the request is too large for criscope to rewrite, so it is denied`, clamps: [] };
}

/** The request fields policy reads, from the method table's paths. */
function judgedPaths(paths: PolicyPaths): string[] {
  const judged: string[] = [];
  if (paths.podConfig !== undefined) judged.push(`${paths.podConfig}.metadata`, `${paths.podConfig}.labels`);
  for (const path of [paths.sandboxId, paths.containerId, paths.image, paths.localImage, paths.resources, paths.securityContext?.path]) if (path !== undefined) judged.push(path);
  if (paths.mounts !== undefined) judged.push(`${paths.mounts}.host_path`);
  return judged;
}

function allow(method: string): GateVerdict {
  return { decision: { method, pod: UNKNOWN_POD, findings: [], denial: undefined, clamps: [] }, rewritten: undefined };
}

function messageTypeAt(type: protobuf.Type, path: string): protobuf.Type {
  let current = type;
  for (const segment of path.split('.')) {
    const field = current.fields[segment];
    field.resolve();
    current = field.resolvedType as protobuf.Type;
  }
  return current;
}
