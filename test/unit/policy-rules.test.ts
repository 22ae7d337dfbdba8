import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { compileScope, podSelectorSchema, type SelectorConfig } from '../../src/policy/pod-scope.js';
import { cpuQuantity, memoryQuantity } from '../../src/policy/quantity.js';
import { resourcesRule, resourcesRuleSchema } from '../../src/policy/rules/resources-rule.js';
import { securityRule, securityRuleSchema } from '../../src/policy/rules/security-rule.js';
import type { PolicySubject, ResourceSubject, SecuritySubject, Violation } from '../../src/policy/types.js';
import type { PodIdentity } from '../../src/cri/pod-identity.js';

const GI = 1024 ** 3;
const MI = 1024 ** 2;

/** Every issue of a failed parse as "path: message", so a test can match the field and the reason together. */
function issues(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, `expected ${JSON.stringify(input)} to be refused`);
  return result.error?.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`) ?? [];
}

function assertRefused(schema: z.ZodType, input: unknown, expected: RegExp): void {
  const found = issues(schema, input);
  assert.ok(
    found.some((issue) => expected.test(issue)),
    `expected an issue matching ${String(expected)}, got ${JSON.stringify(found)}`,
  );
}

function pod(namespace: string, labels: Record<string, string> = {}, uid = 'uid-1'): PodIdentity {
  return { namespace, name: 'web-0', uid, labels };
}

describe('quantities', () => {
  const memory: [string | number, number][] = [
    ['2Gi', 2 * GI],
    ['512Mi', 512 * MI],
    ['1.5Gi', 1.5 * GI],
    ['1G', 1e9],
    ['1e9', 1e9],
    ['1E3', 1000],
    ['1P', 1e15],
    ['1000000', 1_000_000],
    [1_000_000, 1_000_000],
    ['128974848000m', 128_974_848],
    ['1500m', 2], // Kubernetes rounds fractional bytes up
    ['4Ki', 4096],
  ];
  for (const [input, bytes] of memory) {
    it(`reads memory ${JSON.stringify(input)} as ${bytes} bytes`, () => assert.equal(memoryQuantity.parse(input), bytes));
  }

  const cpu: [string | number, number][] = [
    ['2', 2000],
    ['1.5', 1500],
    ['1.1', 1100],
    ['500m', 500],
    [0.25, 250],
    [4, 4000],
    ['0.0005', 1], // rounded up to a whole millicore
  ];
  for (const [input, millicores] of cpu) {
    it(`reads CPU ${JSON.stringify(input)} as ${millicores} millicores`, () => assert.equal(cpuQuantity.parse(input), millicores));
  }

  const badMemory: [unknown, RegExp][] = [
    ['2GB', /must be a memory size such as "2Gi"/],
    ['lots', /must be a memory size such as "2Gi"/],
    ['-1Gi', /must be a memory size such as "2Gi"/],
    ['', /must be a memory size such as "2Gi"/],
    ['1e999999', /must be a memory size such as "2Gi"/],
    ['100Ei', /must be a memory size such as "2Gi"/], // past 2^53 bytes
    [true, /must be a memory size such as "2Gi"/],
    ['0', /must be greater than zero/],
  ];
  for (const [input, message] of badMemory) {
    it(`refuses memory ${JSON.stringify(input)}`, () => assertRefused(memoryQuantity, input, message));
  }

  const badCpu: [unknown, RegExp][] = [
    ['2 cores', /must be a CPU amount such as "500m" or "2"/],
    ['1.5.1', /must be a CPU amount/],
    [-1, /must be a CPU amount/],
    [0, /must be greater than zero/],
  ];
  for (const [input, message] of badCpu) {
    it(`refuses CPU ${JSON.stringify(input)}`, () => assertRefused(cpuQuantity, input, message));
  }
});

describe('pod scope', () => {
  const cases: { name: string; match?: SelectorConfig; exempt?: SelectorConfig[]; pod: PodIdentity; applies: boolean }[] = [
    { name: 'no match: every pod', pod: pod('default'), applies: true },
    { name: 'no match: an unknown pod too', pod: pod('', {}, ''), applies: true },
    { name: 'namespace listed', match: { namespaces: ['prod', 'staging'] }, pod: pod('prod'), applies: true },
    { name: 'namespace not listed', match: { namespaces: ['prod'] }, pod: pod('dev'), applies: false },
    { name: 'unknown namespace is in no list', match: { namespaces: ['prod'] }, pod: pod(''), applies: false },
    { name: 'matchLabels all present', match: { podSelector: { matchLabels: { app: 'web', tier: 'front' } } }, pod: pod('a', { app: 'web', tier: 'front', x: 'y' }), applies: true },
    { name: 'matchLabels one differs', match: { podSelector: { matchLabels: { app: 'web', tier: 'front' } } }, pod: pod('a', { app: 'web', tier: 'back' }), applies: false },
    { name: 'matchLabels one missing', match: { podSelector: { matchLabels: { app: 'web' } } }, pod: pod('a'), applies: false },
    { name: 'empty podSelector selects all', match: { podSelector: {} }, pod: pod('a'), applies: true },
    { name: 'namespace and labels: both hold', match: { namespaces: ['prod'], podSelector: { matchLabels: { app: 'web' } } }, pod: pod('prod', { app: 'web' }), applies: true },
    { name: 'namespace and labels: labels fail', match: { namespaces: ['prod'], podSelector: { matchLabels: { app: 'web' } } }, pod: pod('prod', { app: 'db' }), applies: false },
    { name: 'namespace and labels: namespace fails', match: { namespaces: ['prod'], podSelector: { matchLabels: { app: 'web' } } }, pod: pod('dev', { app: 'web' }), applies: false },
    { name: 'In: value listed', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'qa'] }] } }, pod: pod('a', { env: 'qa' }), applies: true },
    { name: 'In: value not listed', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] } }, pod: pod('a', { env: 'qa' }), applies: false },
    { name: 'In: label absent', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] } }, pod: pod('a'), applies: false },
    { name: 'NotIn: value listed', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }, pod: pod('a', { env: 'prod' }), applies: false },
    { name: 'NotIn: value not listed', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }, pod: pod('a', { env: 'qa' }), applies: true },
    { name: 'NotIn: label absent', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }, pod: pod('a'), applies: true },
    { name: 'Exists: present', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] } }, pod: pod('a', { env: '' }), applies: true },
    { name: 'Exists: absent', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] } }, pod: pod('a'), applies: false },
    { name: 'DoesNotExist: absent', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] } }, pod: pod('a'), applies: true },
    { name: 'DoesNotExist: present', match: { podSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] } }, pod: pod('a', { env: 'x' }), applies: false },
    { name: 'a label named like an Object method is not inherited', match: { podSelector: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] } }, pod: pod('a'), applies: false },
    { name: 'exempt by namespace', exempt: [{ namespaces: ['kube-system'] }], pod: pod('kube-system'), applies: false },
    { name: 'not exempt', exempt: [{ namespaces: ['kube-system'] }], pod: pod('default'), applies: true },
    { name: 'an unknown pod is not exempt by namespace', exempt: [{ namespaces: ['kube-system'] }], pod: pod(''), applies: true },
    { name: 'exempt by the second of several', exempt: [{ namespaces: ['kube-system'] }, { podSelector: { matchLabels: { trusted: 'yes' } } }], pod: pod('default', { trusted: 'yes' }), applies: false },
    { name: 'matched but exempt', match: { namespaces: ['prod'] }, exempt: [{ podSelector: { matchLabels: { app: 'ops' } } }], pod: pod('prod', { app: 'ops' }), applies: false },
    { name: 'exempt needs both parts of its selector', exempt: [{ namespaces: ['prod'], podSelector: { matchLabels: { app: 'ops' } } }], pod: pod('dev', { app: 'ops' }), applies: true },
  ];
  for (const { name, match, exempt = [], pod: subject, applies } of cases) {
    it(name, () => assert.equal(compileScope(match, exempt).applies(subject), applies));
  }

  it('parses a full selector', () => {
    const selector = { namespaces: ['prod'], podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'Exists' }] } };
    assert.deepEqual(podSelectorSchema.parse(selector), selector);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['In without values', { podSelector: { matchExpressions: [{ key: 'env', operator: 'In' }] } }, /^podSelector\.matchExpressions\.0\.values: operator In needs a non-empty values list$/],
    ['NotIn with empty values', { podSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: [] }] } }, /^podSelector\.matchExpressions\.0\.values: operator NotIn needs/],
    ['Exists with values', { podSelector: { matchExpressions: [{ key: 'env', operator: 'Exists', values: ['x'] }] } }, /^podSelector\.matchExpressions\.0\.values: operator Exists takes no values$/],
    ['DoesNotExist with values', { podSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist', values: [] }] } }, /values: operator DoesNotExist takes no values$/],
    ['an unknown operator', { podSelector: { matchExpressions: [{ key: 'env', operator: 'Gt', values: ['1'] }] } }, /^podSelector\.matchExpressions\.0\.operator: /],
    ['an unknown key', { namespace: ['prod'] }, /^\(root\): Unrecognized key: "namespace"/],
    ['an unknown podSelector key', { podSelector: { labels: {} } }, /^podSelector: Unrecognized key: "labels"/],
    ['an empty namespace list', { namespaces: [] }, /^namespaces: must list at least one namespace/],
    ['a non-string label value', { podSelector: { matchLabels: { replicas: 3 } } }, /^podSelector\.matchLabels\.replicas: /],
  ];
  for (const [name, input, expected] of invalid) {
    it(`refuses ${name}, naming the field`, () => assertRefused(podSelectorSchema, input, expected));
  }
});

function resources(fields: Partial<ResourceSubject>): ResourceSubject {
  return { cpuPeriod: 0, cpuQuota: 0, memoryLimitBytes: 0, unified: {}, ...fields };
}

function subjectWith(parts: Partial<PolicySubject>): PolicySubject {
  return { method: 'CreateContainer', request: {}, pod: pod('default'), ...parts };
}

describe('resources rule', () => {
  const cases: { name: string; rule: unknown; method?: string; resources: ResourceSubject; expect: Violation[] }[] = [
    { name: 'within both caps', rule: { maxCPU: '2', maxMemory: '2Gi' }, resources: resources({ cpuPeriod: 100_000, cpuQuota: 150_000, memoryLimitBytes: GI }), expect: [] },
    { name: 'exactly at the caps', rule: { maxCPU: '2', maxMemory: '2Gi' }, resources: resources({ cpuQuota: 200_000, memoryLimitBytes: 2 * GI }), expect: [] },
    {
      name: 'memory above the cap, deny',
      rule: { maxMemory: '2Gi' },
      resources: resources({ memoryLimitBytes: 4 * GI }),
      expect: [{ check: 'memory', action: 'deny', reason: 'memory limit 4Gi is above the cap of 2Gi' }],
    },
    {
      name: 'memory above the cap, clamp',
      rule: { maxMemory: '512Mi', action: 'clamp' },
      resources: resources({ memoryLimitBytes: GI }),
      expect: [{ check: 'memory', action: 'clamp', reason: 'memory limit 1Gi is above the cap of 512Mi', clamps: [{ field: 'memory_limit_in_bytes', value: 512 * MI }] }],
    },
    {
      name: 'no memory limit under a cap, deny',
      rule: { maxMemory: '2Gi' },
      resources: resources({}),
      expect: [{ check: 'memory', action: 'deny', reason: 'container has no memory limit; the cap is 2Gi' }],
    },
    {
      name: 'no memory limit under a cap, clamp',
      rule: { maxMemory: '2Gi', action: 'clamp' },
      resources: resources({}),
      expect: [{ check: 'memory', action: 'clamp', reason: 'container has no memory limit; the cap is 2Gi', clamps: [{ field: 'memory_limit_in_bytes', value: 2 * GI }] }],
    },
    {
      name: 'a decimal cap reads in bytes too',
      rule: { maxMemory: '1G' },
      resources: resources({ memoryLimitBytes: 2 * GI }),
      expect: [{ check: 'memory', action: 'deny', reason: 'memory limit 2Gi is above the cap of 953.67Mi (1000000000 bytes)' }],
    },
    {
      name: 'CPU above the cap, deny',
      rule: { maxCPU: '2' },
      resources: resources({ cpuPeriod: 100_000, cpuQuota: 400_000 }),
      expect: [{ check: 'cpu', action: 'deny', reason: 'CPU limit 4 cores is above the cap of 2 cores' }],
    },
    {
      name: 'CPU above the cap with the period set, clamp keeps the period',
      rule: { maxCPU: '1500m', action: 'clamp' },
      resources: resources({ cpuPeriod: 50_000, cpuQuota: 100_000 }),
      expect: [{ check: 'cpu', action: 'clamp', reason: 'CPU limit 2 cores is above the cap of 1.5 cores', clamps: [{ field: 'cpu_quota', value: 75_000 }] }],
    },
    {
      name: 'CPU above the cap with the period unset, clamp pins the period',
      rule: { maxCPU: '250m', action: 'clamp' },
      resources: resources({ cpuQuota: 50_000 }),
      expect: [
        {
          check: 'cpu',
          action: 'clamp',
          reason: 'CPU limit 500 millicores is above the cap of 250 millicores',
          clamps: [
            { field: 'cpu_quota', value: 25_000 },
            { field: 'cpu_period', value: 100_000 },
          ],
        },
      ],
    },
    {
      name: 'a clamped quota rounds down',
      rule: { maxCPU: '333m', action: 'clamp' },
      resources: resources({ cpuPeriod: 100_000, cpuQuota: 100_000 }),
      expect: [{ check: 'cpu', action: 'clamp', reason: 'CPU limit 1 core is above the cap of 333 millicores', clamps: [{ field: 'cpu_quota', value: 33_300 }] }],
    },
    {
      name: 'no CPU limit (quota -1) under a cap, clamp',
      rule: { maxCPU: 1, action: 'clamp' },
      resources: resources({ cpuQuota: -1 }),
      expect: [
        {
          check: 'cpu',
          action: 'clamp',
          reason: 'container has no CPU limit; the cap is 1 core',
          clamps: [
            { field: 'cpu_quota', value: 100_000 },
            { field: 'cpu_period', value: 100_000 },
          ],
        },
      ],
    },
    {
      name: 'the pod level says pod, and has caps of its own',
      rule: { maxCPU: '2', maxPodCPU: '1' },
      method: 'UpdatePodSandboxResources',
      resources: resources({}),
      expect: [{ check: 'cpu', action: 'deny', reason: 'pod has no CPU limit; the cap is 1 core' }],
    },
    {
      name: 'both caps broken',
      rule: { maxCPU: '1', maxMemory: '1Gi' },
      resources: resources({ cpuQuota: 200_000, memoryLimitBytes: 2 * GI }),
      expect: [
        { check: 'cpu', action: 'deny', reason: 'CPU limit 2 cores is above the cap of 1 core' },
        { check: 'memory', action: 'deny', reason: 'memory limit 2Gi is above the cap of 1Gi' },
      ],
    },
    {
      name: 'requireLimits: both missing',
      rule: { requireLimits: true },
      resources: resources({}),
      expect: [
        { check: 'limits', action: 'deny', reason: 'container has no CPU limit; limits are required' },
        { check: 'limits', action: 'deny', reason: 'container has no memory limit; limits are required' },
      ],
    },
    { name: 'requireLimits: both set', rule: { requireLimits: true }, resources: resources({ cpuQuota: 1000, memoryLimitBytes: MI }), expect: [] },
    {
      name: 'requireLimits: only the listed resource',
      rule: { requireLimits: ['memory'] },
      resources: resources({}),
      expect: [{ check: 'limits', action: 'deny', reason: 'container has no memory limit; limits are required' }],
    },
    {
      name: 'requireLimits denies even when the rule clamps',
      rule: { requireLimits: ['cpu'], maxMemory: '1Gi', action: 'clamp' },
      resources: resources({ memoryLimitBytes: MI }),
      expect: [{ check: 'limits', action: 'deny', reason: 'container has no CPU limit; limits are required' }],
    },
    {
      name: 'requireLimits with a cap: the cap check covers it',
      rule: { requireLimits: true, maxMemory: '1Gi', maxCPU: '1', action: 'clamp' },
      resources: resources({ cpuQuota: 50_000 }),
      expect: [{ check: 'memory', action: 'clamp', reason: 'container has no memory limit; the cap is 1Gi', clamps: [{ field: 'memory_limit_in_bytes', value: GI }] }],
    },
    { name: 'requireLimits: a unified limit counts', rule: { requireLimits: ['memory'] }, resources: resources({ unified: { 'memory.max': '1G' } }), expect: [] },
    {
      name: 'requireLimits: unified "max" overrides the field',
      rule: { requireLimits: ['memory'] },
      resources: resources({ memoryLimitBytes: MI, unified: { 'memory.max': 'max' } }),
      expect: [{ check: 'limits', action: 'deny', reason: 'container has no memory limit; limits are required' }],
    },
    {
      name: 'unified memory.max above the cap denies even under clamp',
      rule: { maxMemory: '2Gi', action: 'clamp' },
      resources: resources({ memoryLimitBytes: GI, unified: { 'memory.max': '4294967296' } }),
      expect: [{ check: 'memory', action: 'deny', reason: 'unified "memory.max" limit 4Gi is above the cap of 2Gi' }],
    },
    {
      name: 'unified memory.max with a kernel suffix',
      rule: { maxMemory: '2Gi' },
      resources: resources({ unified: { 'memory.max': '3G' } }),
      expect: [{ check: 'memory', action: 'deny', reason: 'unified "memory.max" limit 3Gi is above the cap of 2Gi' }],
    },
    { name: 'unified memory.max within the cap stands for the missing field', rule: { maxMemory: '2Gi' }, resources: resources({ unified: { 'memory.max': '1073741824\n' } }), expect: [] },
    {
      name: 'unified memory.max "max" under a cap',
      rule: { maxMemory: '2Gi' },
      resources: resources({ memoryLimitBytes: GI, unified: { 'memory.max': 'max' } }),
      expect: [{ check: 'memory', action: 'deny', reason: 'unified "memory.max" is "max" (no limit); the cap is 2Gi' }],
    },
    {
      name: 'unified memory.max in hex is not guessed at',
      rule: { maxMemory: '2Gi' },
      resources: resources({ memoryLimitBytes: GI, unified: { 'memory.max': '0x10' } }),
      expect: [{ check: 'memory', action: 'deny', reason: 'unified "memory.max" value "0x10" is not understood; the cap is 2Gi' }],
    },
    {
      name: 'unified and field both above the cap',
      rule: { maxMemory: '1Gi', action: 'clamp' },
      resources: resources({ memoryLimitBytes: 2 * GI, unified: { 'memory.max': '3221225472' } }),
      expect: [
        { check: 'memory', action: 'clamp', reason: 'memory limit 2Gi is above the cap of 1Gi', clamps: [{ field: 'memory_limit_in_bytes', value: GI }] },
        { check: 'memory', action: 'deny', reason: 'unified "memory.max" limit 3Gi is above the cap of 1Gi' },
      ],
    },
    {
      name: 'unified cpu.max above the cap',
      rule: { maxCPU: '2', action: 'clamp' },
      resources: resources({ cpuQuota: 100_000, unified: { 'cpu.max': '400000 100000' } }),
      expect: [{ check: 'cpu', action: 'deny', reason: 'unified "cpu.max" limit 4 cores is above the cap of 2 cores' }],
    },
    {
      name: 'unified cpu.max without a period uses the request period',
      rule: { maxCPU: '1' },
      resources: resources({ cpuPeriod: 50_000, cpuQuota: 50_000, unified: { 'cpu.max': '100000' } }),
      expect: [{ check: 'cpu', action: 'deny', reason: 'unified "cpu.max" limit 2 cores is above the cap of 1 core' }],
    },
    { name: 'unified cpu.max within the cap', rule: { maxCPU: '1' }, resources: resources({ unified: { 'cpu.max': '50000 100000' } }), expect: [] },
    {
      name: 'unified cpu.max "max" under a cap',
      rule: { maxCPU: '1' },
      resources: resources({ cpuQuota: 50_000, unified: { 'cpu.max': 'max 100000' } }),
      expect: [{ check: 'cpu', action: 'deny', reason: 'unified "cpu.max" is "max" (no limit); the cap is 1 core' }],
    },
    {
      name: 'unified cpu.max with a zero period',
      rule: { maxCPU: '1' },
      resources: resources({ cpuQuota: 50_000, unified: { 'cpu.max': '50000 0' } }),
      expect: [{ check: 'cpu', action: 'deny', reason: 'unified "cpu.max" value "50000 0" is not understood; the cap is 1 core' }],
    },
    { name: 'other unified keys are not judged', rule: { maxMemory: '1Gi' }, resources: resources({ memoryLimitBytes: GI, unified: { 'memory.high': '8G' } }), expect: [] },
  ];
  for (const { name, rule, method = 'CreateContainer', resources: given, expect } of cases) {
    it(name, () => {
      const checks = resourcesRule(resourcesRuleSchema.parse(rule));
      assert.deepEqual(checks.evaluate(subjectWith({ method, resources: given })), expect);
    });
  }

  it('judges containers for container caps, pod resizes for pod caps, and nothing without resources', () => {
    const checks = resourcesRule(resourcesRuleSchema.parse({ maxMemory: '1Gi' }));
    assert.deepEqual([...checks.methods].sort(), ['CreateContainer', 'UpdateContainerResources']);
    assert.deepEqual([...resourcesRule(resourcesRuleSchema.parse({ maxPodMemory: '4Gi' })).methods], ['UpdatePodSandboxResources']);
    assert.deepEqual(checks.evaluate(subjectWith({})), []);
  });

  it('defaults the action to deny', () => assert.equal(resourcesRuleSchema.parse({ maxCPU: '1' }).action, 'deny'));

  const invalid: [string, unknown, RegExp][] = [
    ['no check at all', { action: 'clamp' }, /^\(root\): set at least one of maxCPU, maxMemory, maxPodCPU, maxPodMemory or requireLimits$/],
    ['only requireLimits: false', { requireLimits: false }, /^\(root\): set at least one of/],
    ['a bad memory size', { maxMemory: '2GB' }, /^maxMemory: must be a memory size such as "2Gi"$/],
    ['a bad CPU amount', { maxCPU: 'two' }, /^maxCPU: must be a CPU amount such as "500m" or "2"$/],
    ['a CPU cap below the kernel minimum', { maxCPU: '5m' }, /^maxCPU: must be at least 10m$/],
    ['an unknown resource to require', { requireLimits: ['gpu'] }, /^requireLimits: must be true, false or a list of "cpu" and "memory"$/],
    ['an empty list to require', { requireLimits: [] }, /^requireLimits: must list "cpu", "memory" or both$/],
    ['an unknown action', { maxCPU: '1', action: 'warn' }, /^action: /],
    ['an unknown key', { maxCpu: '1' }, /^\(root\): Unrecognized key: "maxCpu"/],
  ];
  for (const [name, input, expected] of invalid) {
    it(`refuses ${name}, naming the field`, () => assertRefused(resourcesRuleSchema, input, expected));
  }
});

function security(fields: Partial<SecuritySubject>): SecuritySubject {
  return {
    kind: 'container',
    privileged: false,
    hostNetwork: false,
    hostPid: false,
    hostIpc: false,
    addedCapabilities: [],
    runAsUser: 1000,
    runAsUsername: '',
    hostPaths: [],
    ...fields,
  };
}

describe('security rule', () => {
  const cases: { name: string; rule: unknown; security: SecuritySubject; pod?: PodIdentity; expect: [string, string][] }[] = [
    { name: 'privileged container', rule: { denyPrivileged: true }, security: security({ privileged: true }), expect: [['privileged', 'the container is privileged']] },
    { name: 'privileged sandbox', rule: { denyPrivileged: true }, security: security({ kind: 'sandbox', privileged: true }), expect: [['privileged', 'the sandbox is privileged']] },
    { name: 'privileged but not denied', rule: { denyPrivileged: false, denyHostPID: true }, security: security({ privileged: true }), expect: [] },
    { name: 'host network', rule: { denyHostNetwork: true }, security: security({ kind: 'sandbox', hostNetwork: true }), expect: [['hostNetwork', 'the sandbox uses the host network namespace']] },
    { name: 'host PID', rule: { denyHostPID: true }, security: security({ hostPid: true }), expect: [['hostPID', 'the container uses the host PID namespace']] },
    { name: 'host IPC', rule: { denyHostIPC: true }, security: security({ hostIpc: true }), expect: [['hostIPC', 'the container uses the host IPC namespace']] },
    { name: 'pod namespaces only', rule: { denyHostNetwork: true, denyHostPID: true, denyHostIPC: true, denyPrivileged: true }, security: security({}), expect: [] },
    {
      name: 'every host namespace at once',
      rule: { denyHostNetwork: true, denyHostPID: true, denyHostIPC: true },
      security: security({ kind: 'sandbox', hostNetwork: true, hostPid: true, hostIpc: true }),
      expect: [
        ['hostNetwork', 'the sandbox uses the host network namespace'],
        ['hostPID', 'the sandbox uses the host PID namespace'],
        ['hostIPC', 'the sandbox uses the host IPC namespace'],
      ],
    },
    {
      name: 'a capability outside the list',
      rule: { allowedCapabilities: ['NET_BIND_SERVICE'] },
      security: security({ addedCapabilities: ['NET_BIND_SERVICE', 'SYS_ADMIN'] }),
      expect: [['capabilities', 'capability "SYS_ADMIN" is not in the allowed list (NET_BIND_SERVICE)']],
    },
    { name: 'capability names normalised both sides', rule: { allowedCapabilities: ['cap_net_admin', 'CHOWN'] }, security: security({ addedCapabilities: ['CAP_NET_ADMIN', 'chown', 'Cap_Chown'] }), expect: [] },
    {
      name: 'a prefixed capability outside the list, named once',
      rule: { allowedCapabilities: ['CAP_NET_BIND_SERVICE'] },
      security: security({ addedCapabilities: ['CAP_SYS_ADMIN', 'sys_admin'] }),
      expect: [['capabilities', 'capability "SYS_ADMIN" is not in the allowed list (NET_BIND_SERVICE)']],
    },
    {
      name: 'ALL requested is outside a list without ALL',
      rule: { allowedCapabilities: ['NET_ADMIN', 'SYS_TIME'] },
      security: security({ addedCapabilities: ['ALL'] }),
      expect: [['capabilities', 'capability "ALL" is not in the allowed list (NET_ADMIN, SYS_TIME)']],
    },
    { name: 'ALL listed allows anything', rule: { allowedCapabilities: ['all'] }, security: security({ addedCapabilities: ['ALL', 'SYS_ADMIN'] }), expect: [] },
    {
      name: 'an empty list allows none',
      rule: { allowedCapabilities: [] },
      security: security({ addedCapabilities: ['CHOWN'] }),
      expect: [['capabilities', 'capability "CHOWN" is not in the allowed list (none)']],
    },
    { name: 'no capability list: no check', rule: { denyPrivileged: true }, security: security({ addedCapabilities: ['SYS_ADMIN'] }), expect: [] },
    { name: 'a host path under an allowed prefix', rule: { allowedHostPaths: ['/var/log'] }, security: security({ hostPaths: ['/var/log/pods/x', '/var/log'] }), expect: [] },
    { name: 'a prefix with a trailing slash', rule: { allowedHostPaths: ['/var/log/'] }, security: security({ hostPaths: ['/var/log/app', '/var/log'] }), expect: [] },
    {
      name: 'a host path outside the prefixes',
      rule: { allowedHostPaths: ['/var/log'] },
      security: security({ hostPaths: ['/etc'] }),
      expect: [['hostPath', 'host path "/etc" is outside the allowed prefixes (/var/log)']],
    },
    {
      name: 'a sibling sharing the prefix text',
      rule: { allowedHostPaths: ['/var/log'] },
      security: security({ hostPaths: ['/var/logs'] }),
      expect: [['hostPath', 'host path "/var/logs" is outside the allowed prefixes (/var/log)']],
    },
    {
      name: 'path traversal out of a prefix',
      rule: { allowedHostPaths: ['/var/log', '/data'] },
      security: security({ hostPaths: ['/var/log/../../etc', '/data/./x/../../root', '//var/log/ok', '/var/log/x\n/../../../etc'] }),
      expect: [
        ['hostPath', 'host path "/var/log/../../etc" is outside the allowed prefixes (/var/log, /data)'],
        ['hostPath', 'host path "/data/./x/../../root" is outside the allowed prefixes (/var/log, /data)'],
        ['hostPath', 'host path "/var/log/x\n/../../../etc" is outside the allowed prefixes (/var/log, /data)'],
      ],
    },
    {
      name: "this pod's kubelet volumes are always allowed",
      rule: { allowedHostPaths: [] },
      security: security({
        hostPaths: [
          '/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~empty-dir/cache',
          '/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~projected/kube-api-access-abc',
          '/var/lib/kubelet/pods/uid-1/etc-hosts',
          '/var/lib/kubelet/pods/uid-1/containers/app/1a2b3c',
        ],
      }),
      expect: [],
    },
    {
      name: "another pod's kubelet volumes and the pods directory itself are not",
      rule: { allowedHostPaths: [] },
      security: security({ hostPaths: ['/var/lib/kubelet/pods/uid-2/volumes/kubernetes.io~secret/token', '/var/lib/kubelet/pods', '/var/lib/kubelet/pods/uid-1/../uid-2/x'] }),
      expect: [
        ['hostPath', 'host path "/var/lib/kubelet/pods/uid-2/volumes/kubernetes.io~secret/token" is outside the allowed prefixes (none)'],
        ['hostPath', 'host path "/var/lib/kubelet/pods" is outside the allowed prefixes (none)'],
        ['hostPath', 'host path "/var/lib/kubelet/pods/uid-1/../uid-2/x" is outside the allowed prefixes (none)'],
      ],
    },
    {
      name: 'a pod without a uid gets no kubelet volume allowance (no reaching into another pod by leaving it out)',
      rule: { allowedHostPaths: ['/data'] },
      pod: pod('', {}, ''),
      security: security({ hostPaths: ['/var/lib/kubelet/pods/uid-9/volumes/token', '/data/x'] }),
      expect: [['hostPath', 'host path "/var/lib/kubelet/pods/uid-9/volumes/token" is outside the allowed prefixes (/data)']],
    },
    {
      name: 'a custom kubelet root dir',
      rule: { allowedHostPaths: ['/data'], kubeletRootDir: '/srv/kubelet/' },
      security: security({ hostPaths: ['/srv/kubelet/pods/uid-1/etc-hosts', '/var/lib/kubelet/pods/uid-1/etc-hosts'] }),
      expect: [['hostPath', 'host path "/var/lib/kubelet/pods/uid-1/etc-hosts" is outside the allowed prefixes (/data)']],
    },
    { name: 'no host path list: no check', rule: { denyPrivileged: true }, security: security({ hostPaths: ['/'] }), expect: [] },
    { name: 'the root prefix allows every path', rule: { allowedHostPaths: ['/'] }, security: security({ hostPaths: ['/etc', '/'] }), expect: [] },
    { name: 'a non-root uid', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: 1000 }), expect: [] },
    { name: 'uid 0', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: 0 }), expect: [['runAsNonRoot', 'the container runs as uid 0 (root)']] },
    { name: 'a uid wins over a root user name', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: 1000, runAsUsername: 'root' }), expect: [] },
    {
      name: 'no user at all counts as root',
      rule: { requireRunAsNonRoot: true },
      security: security({ runAsUser: undefined }),
      expect: [['runAsNonRoot', "the container sets no user to run as, so it may run as root (criscope cannot see the image's USER)"]],
    },
    { name: 'user name root', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: undefined, runAsUsername: 'root' }), expect: [['runAsNonRoot', 'the container runs as user "root" (root)']] },
    { name: 'user name 0', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: undefined, runAsUsername: '0' }), expect: [['runAsNonRoot', 'the container runs as user "0" (root)']] },
    { name: 'another user name', rule: { requireRunAsNonRoot: true }, security: security({ runAsUser: undefined, runAsUsername: 'nginx' }), expect: [] },
    { name: 'sandboxes are not judged for the user', rule: { requireRunAsNonRoot: true }, security: security({ kind: 'sandbox', runAsUser: undefined }), expect: [] },
  ];
  for (const { name, rule, security: given, pod: owner = pod('default'), expect } of cases) {
    it(name, () => {
      const checks = securityRule(securityRuleSchema.parse(rule));
      const found = checks.evaluate(subjectWith({ pod: owner, security: given }));
      assert.deepEqual(
        found.map((violation) => [violation.check, violation.reason]),
        expect,
      );
      for (const violation of found) assert.equal(violation.action, 'deny');
    });
  }

  it('judges sandboxes and containers, and nothing without security settings', () => {
    const checks = securityRule(securityRuleSchema.parse({ denyPrivileged: true }));
    assert.deepEqual([...checks.methods].sort(), ['CreateContainer', 'RunPodSandbox']);
    assert.deepEqual(checks.evaluate(subjectWith({})), []);
  });

  it('defaults the kubelet root dir', () => assert.equal(securityRuleSchema.parse({ denyPrivileged: true }).kubeletRootDir, '/var/lib/kubelet'));

  const invalid: [string, unknown, RegExp][] = [
    ['a relative host path prefix', { allowedHostPaths: ['/ok', 'var/log'] }, /^allowedHostPaths\.1: must be an absolute path such as "\/var\/log"$/],
    ['a relative kubelet root dir', { kubeletRootDir: 'kubelet' }, /^kubeletRootDir: must be an absolute path/],
    ['an empty capability', { allowedCapabilities: [''] }, /^allowedCapabilities\.0: /],
    ['a non-boolean flag', { denyPrivileged: 'yes' }, /^denyPrivileged: .*expected boolean/],
    ['an unknown key', { denyHostPid: true }, /^\(root\): Unrecognized key: "denyHostPid"/],
  ];
  for (const [name, input, expected] of invalid) {
    it(`refuses ${name}, naming the field`, () => assertRefused(securityRuleSchema, input, expected));
  }
});
