/**
 * The `resources` rule: caps on a container's (or pod's) CPU and memory
 * limits, and limits required. Raw cgroup v2 keys in `unified` can set limits
 * too and win over the fields, so they are judged as well.
 */
import { z } from 'zod';
import { cpuQuantity, formatBytes, formatMillicores, memoryQuantity } from '../quantity.js';
import type { PolicySubject, ResourceSubject, RuleChecks, Violation } from '../types.js';
import type { PolicyAction, ResourceClamp } from '../../cri/policy-decision.js';

/** The runtime's CFS period when the request leaves it unset, in microseconds. */
const DEFAULT_CPU_PERIOD = 100_000;

const CONTAINER_METHODS = ['CreateContainer', 'UpdateContainerResources'];
/** A pod's resources are the sum of its containers': they have caps of their own. */
const POD_METHOD = 'UpdatePodSandboxResources';

/** The kind-specific fields; the policy file adds kind, name, mode, match and exempt. */
export const resourcesRuleSchema = z
  .object({
    // The kernel's smallest CFS quota is 1 ms, i.e. 10m at the default 100 ms period.
    maxCPU: cpuQuantity.refine((millicores) => millicores >= 10, { message: 'must be at least 10m' }).optional(),
    maxMemory: memoryQuantity.optional(),
    /** Caps on a whole pod's limits, judged when kubelet resizes the pod (UpdatePodSandboxResources). */
    maxPodCPU: cpuQuantity.refine((millicores) => millicores >= 10, { message: 'must be at least 10m' }).optional(),
    maxPodMemory: memoryQuantity.optional(),
    requireLimits: z
      .union([z.boolean(), z.array(z.enum(['cpu', 'memory'])).min(1, { message: 'must list "cpu", "memory" or both' })], {
        error: 'must be true, false or a list of "cpu" and "memory"',
      })
      .optional(),
    action: z.enum(['deny', 'clamp']).default('deny'),
  })
  .strict()
  .refine(
    (rule) =>
      rule.maxCPU !== undefined || rule.maxMemory !== undefined || rule.maxPodCPU !== undefined || rule.maxPodMemory !== undefined || (rule.requireLimits ?? false) !== false,
    { message: 'set at least one of maxCPU, maxMemory, maxPodCPU, maxPodMemory or requireLimits' },
  );

export type ResourcesRuleSettings = z.output<typeof resourcesRuleSchema>;

/** What a `unified` cgroup v2 key says about a limit. */
type UnifiedLimit =
  | { readonly state: 'absent' }
  | { readonly state: 'unlimited' | 'unreadable'; readonly raw: string }
  | { readonly state: 'limited'; readonly raw: string; readonly amount: number };

/** One resource of a request, in the units its cap is in (millicores or bytes). */
interface LimitView {
  readonly check: 'cpu' | 'memory';
  readonly noun: string;
  readonly format: (amount: number) => string;
  /** From the proto fields; undefined when they set no limit. */
  readonly limit: number | undefined;
  readonly unifiedKey: string;
  readonly unified: UnifiedLimit;
  /** The field rewrites that bring the limit down to `cap`. */
  readonly clampTo: (cap: number) => ResourceClamp[];
}

function cpuView(resources: ResourceSubject): LimitView {
  const period = resources.cpuPeriod > 0 ? resources.cpuPeriod : DEFAULT_CPU_PERIOD;
  return {
    check: 'cpu',
    noun: 'CPU',
    format: formatMillicores,
    limit: resources.cpuQuota > 0 ? (resources.cpuQuota * 1000) / period : undefined,
    unifiedKey: 'cpu.max',
    unified: readCpuMax(resources.unified['cpu.max'], period),
    clampTo: (cap) => [
      { field: 'cpu_quota', value: Math.floor((cap * period) / 1000) },
      // The quota was computed for this period, so pin it rather than trust the runtime's default.
      ...(resources.cpuPeriod > 0 ? [] : [{ field: 'cpu_period', value: DEFAULT_CPU_PERIOD } as const]),
    ],
  };
}

function memoryView(resources: ResourceSubject): LimitView {
  return {
    check: 'memory',
    noun: 'memory',
    format: formatBytes,
    limit: resources.memoryLimitBytes > 0 ? resources.memoryLimitBytes : undefined,
    unifiedKey: 'memory.max',
    unified: readMemoryMax(resources.unified['memory.max']),
    clampTo: (cap) => [{ field: 'memory_limit_in_bytes', value: cap }],
  };
}

/** cpu.max is "<quota|max> [period]" in microseconds; a left-out period keeps the one the fields set. */
function readCpuMax(raw: string | undefined, period: number): UnifiedLimit {
  if (raw === undefined) return { state: 'absent' };
  const match = /^(max|\d+)(?:\s+(\d+))?$/.exec(raw.trim());
  const ownPeriod = match?.[2] === undefined ? period : Number(match[2]);
  if (match === null || ownPeriod === 0) return { state: 'unreadable', raw };
  if (match[1] === 'max') return { state: 'unlimited', raw };
  return { state: 'limited', raw, amount: (Number(match[1]) * 1000) / ownPeriod };
}

const MEMPARSE_SHIFTS: Readonly<Record<string, number>> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

/**
 * memory.max is "max" or bytes with the kernel's optional K/M/G/T/P/E suffix
 * (powers of 1024). The kernel also takes hex and octal; those are left
 * unreadable, which denies, rather than guessed at.
 */
function readMemoryMax(raw: string | undefined): UnifiedLimit {
  if (raw === undefined) return { state: 'absent' };
  const text = raw.trim();
  if (text === 'max') return { state: 'unlimited', raw };
  const match = /^(\d+)([kmgtpe])?$/i.exec(text);
  if (match === null) return { state: 'unreadable', raw };
  const shift = MEMPARSE_SHIFTS[(match[2] ?? '').toLowerCase()] ?? 0;
  return { state: 'limited', raw, amount: Number(match[1]) * 1024 ** shift };
}

/** The unified key's violation against a cap; always deny, since map entries are not rewritten. */
function unifiedViolation(view: LimitView, cap: number): Violation | undefined {
  const { unified, unifiedKey: key, check } = view;
  const capText = view.format(cap);
  switch (unified.state) {
    case 'absent':
      return undefined;
    case 'unreadable':
      return { check, action: 'deny', reason: `unified "${key}" value "${unified.raw}" is not understood; the cap is ${capText}` };
    case 'unlimited':
      return { check, action: 'deny', reason: `unified "${key}" is "max" (no limit); the cap is ${capText}` };
    case 'limited':
      return unified.amount > cap
        ? { check, action: 'deny', reason: `unified "${key}" limit ${view.format(unified.amount)} is above the cap of ${capText}` }
        : undefined;
  }
}

function capViolations(view: LimitView, cap: number, action: PolicyAction, owner: string): Violation[] {
  const violations: Violation[] = [];
  const capped = (reason: string): Violation =>
    action === 'clamp' ? { check: view.check, action, reason, clamps: view.clampTo(cap) } : { check: view.check, action, reason };
  if (view.limit !== undefined && view.limit > cap) {
    violations.push(capped(`${view.noun} limit ${view.format(view.limit)} is above the cap of ${view.format(cap)}`));
  }
  // An unlimited container exceeds any cap; when a unified key is present, it decides instead.
  if (view.limit === undefined && view.unified.state === 'absent') {
    violations.push(capped(`${owner} has no ${view.noun} limit; the cap is ${view.format(cap)}`));
  }
  const unified = unifiedViolation(view, cap);
  if (unified !== undefined) violations.push(unified);
  return violations;
}

/** Without a cap there is nothing to clamp to, so a missing required limit denies. */
function requiredViolations(view: LimitView, owner: string): Violation[] {
  // A unified key, when present, wins over the fields (the runtime writes it last).
  const limited = view.unified.state === 'absent' ? view.limit !== undefined : view.unified.state === 'limited';
  return limited ? [] : [{ check: 'limits', action: 'deny', reason: `${owner} has no ${view.noun} limit; limits are required` }];
}

function judge(view: LimitView, cap: number | undefined, required: boolean, action: PolicyAction, owner: string): Violation[] {
  if (cap !== undefined) return capViolations(view, cap, action, owner);
  return required ? requiredViolations(view, owner) : [];
}

/**
 * Container caps (maxCPU, maxMemory, requireLimits) judge each container as
 * it is created or resized; pod caps (maxPodCPU, maxPodMemory) judge a pod's
 * own resize, whose limits are its containers' sum.
 */
export function resourcesRule(settings: ResourcesRuleSettings): RuleChecks {
  const { maxCPU, maxMemory, maxPodCPU, maxPodMemory, requireLimits = false, action } = settings;
  const required = new Set(requireLimits === true ? ['cpu', 'memory'] : requireLimits === false ? [] : requireLimits);
  const judgesContainers = maxCPU !== undefined || maxMemory !== undefined || required.size > 0;
  const judgesPods = maxPodCPU !== undefined || maxPodMemory !== undefined;
  return {
    methods: new Set([...(judgesContainers ? CONTAINER_METHODS : []), ...(judgesPods ? [POD_METHOD] : [])]),
    evaluate(subject: PolicySubject): readonly Violation[] {
      const resources = subject.resources;
      if (resources === undefined) return [];
      if (subject.method === POD_METHOD) {
        return [...judge(cpuView(resources), maxPodCPU, false, action, 'pod'), ...judge(memoryView(resources), maxPodMemory, false, action, 'pod')];
      }
      return [
        ...judge(cpuView(resources), maxCPU, required.has('cpu'), action, 'container'),
        ...judge(memoryView(resources), maxMemory, required.has('memory'), action, 'container'),
      ];
    },
  };
}
