import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { loadPolicy } from '../../src/config/load-policy.js';
import { PolicyFileError } from '../../src/errors.js';
import { DECODE_RULE } from '../../src/policy/built-in-rules.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import type { PolicyLookups } from '../../src/policy/policy-subject.js';
import type { Policy } from '../../src/policy/policy.js';
import { criMethod, criTable, type Message } from '../support/cri-client.js';
import { policyFile } from '../support/policy-env.js';
import type { PodIdentity } from '../../src/cri/pod-identity.js';
import type { GateVerdict } from '../../src/cri/policy-decision.js';

const GI = 1024 ** 3;
const MI = 1024 ** 2;

const EXAMPLE_POLICY = fileURLToPath(new URL('../../../config/criscope-policy.yaml', import.meta.url));

const DIGEST = `sha256:${'a'.repeat(64)}`;
/** An image id, as kubelet passes CreateContainer the id PullImage returned. */
const IMAGE_ID = `sha256:${'b'.repeat(64)}`;
/** An image the example policy allows: our registry, pinned by digest. */
const GOOD_IMAGE = `registry.example.com/shop/web@${DIGEST}`;

function writeText(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-policy-engine-')), 'policy.yaml');
  writeFileSync(path, text);
  return path;
}

/** A policy file written from an object and read back the way criscope reads it. */
function policyOf(file: Record<string, unknown>): Policy {
  return loadPolicy(policyFile(file));
}

function pod(namespace: string, labels: Record<string, string> = { team: 'payments' }): PodIdentity {
  return { namespace, name: 'web-0', uid: 'uid-1', labels };
}

type LookupName = 'podOfSandbox' | 'podOfContainer' | 'imageNames';

/** Look-ups answered from tables, counting every call; an unknown image rejects as the runtime would. */
class FakeLookups implements PolicyLookups {
  readonly calls: { lookup: LookupName; argument: string }[] = [];

  constructor(
    private readonly known: {
      sandboxes?: Record<string, PodIdentity>;
      containers?: Record<string, PodIdentity>;
      images?: Record<string, readonly string[]>;
      /** Runs inside podOfContainer, before it answers. */
      duringContainerLookup?: () => void;
    } = {},
  ) {}

  podOfSandbox(sandboxId: string): Promise<PodIdentity | undefined> {
    this.calls.push({ lookup: 'podOfSandbox', argument: sandboxId });
    return Promise.resolve(this.known.sandboxes?.[sandboxId]);
  }

  podOfContainer(containerId: string): Promise<PodIdentity | undefined> {
    this.calls.push({ lookup: 'podOfContainer', argument: containerId });
    this.known.duringContainerLookup?.();
    return Promise.resolve(this.known.containers?.[containerId]);
  }

  /** A runtime that has every image named in a request by that name, and the ids it is told of. */
  imageNames(image: string): Promise<readonly string[]> {
    this.calls.push({ lookup: 'imageNames', argument: image });
    const names = this.known.images?.[image] ?? (/^(sha256:)?[0-9a-f]{64}$/.test(image) ? undefined : [image]);
    return names === undefined ? Promise.reject(new Error(`image "${image}" not found`)) : Promise.resolve(names);
  }

  /** The arguments of every call made to one look-up. */
  made(lookup: LookupName): string[] {
    return this.calls.filter((call) => call.lookup === lookup).map((call) => call.argument);
  }
}

/** A request as a client puts it on the wire. */
function encode(methodName: string, request: Message): Buffer {
  const type = criMethod(methodName).requestType;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

function decode(methodName: string, bytes: Buffer): Message {
  const type = criMethod(methodName).requestType;
  return type.toObject(type.decode(bytes), { longs: Number, enums: String });
}

interface ContainerOptions {
  image?: string;
  userSpecifiedImage?: string;
  namespace?: string;
  podLabels?: Record<string, string>;
  resources?: Message;
  securityContext?: Message;
  mounts?: Message[];
  /** Leave out sandbox_config, as a client other than kubelet may. */
  noSandboxConfig?: boolean;
}

/** A CreateContainerRequest as kubelet sends it; by default one the example policy lets through untouched. */
function createContainer(options: ContainerOptions = {}): Message {
  return {
    pod_sandbox_id: 'sandbox-1',
    config: {
      metadata: { name: 'app', attempt: 0 },
      image: { image: options.image ?? GOOD_IMAGE, user_specified_image: options.userSpecifiedImage ?? '' },
      labels: { 'io.kubernetes.container.name': 'app' },
      mounts: options.mounts ?? [{ container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: '/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~projected/kube-api-access-x' }],
      linux: {
        resources: options.resources ?? { cpu_period: 100_000, cpu_quota: 50_000, memory_limit_in_bytes: 512 * MI },
        security_context: options.securityContext ?? { run_as_user: { value: 1000 } },
      },
    },
    ...(options.noSandboxConfig === true
      ? {}
      : { sandbox_config: { metadata: { name: 'web-0', namespace: options.namespace ?? 'shop', uid: 'uid-1' }, labels: options.podLabels ?? { team: 'payments' } } }),
  };
}

async function judge(
  engine: PolicyEngine,
  methodName: string,
  request: Message | Buffer,
  options: { rewritable?: boolean } = {},
): Promise<GateVerdict> {
  const bytes = Buffer.isBuffer(request) ? request : encode(methodName, request);
  return engine.judge(criMethod(methodName), bytes, undefined, options.rewritable ?? true);
}

/** "<rule>:<action>:<mode>" for each finding, in order: what a test compares. */
function findingsOf(verdict: GateVerdict): string[] {
  return verdict.decision.findings.map((finding) => `${finding.rule}:${finding.action}:${finding.mode}`);
}

/** The rewritten request's container resources, decoded. */
function resourcesIn(methodName: string, bytes: Buffer | undefined, path: string): Message {
  assert.ok(bytes !== undefined, 'expected the request to be rewritten');
  let value: unknown = decode(methodName, bytes);
  for (const segment of path.split('.')) value = (value as Message)[segment];
  return value as Message;
}

describe('the example policy file', () => {
  it('loads, with the rules it documents', () => {
    const policy = loadPolicy(EXAMPLE_POLICY);
    assert.equal(policy.source, EXAMPLE_POLICY);
    assert.equal(policy.mode, 'enforce');
    assert.deepEqual(
      policy.rules.map((rule) => `${rule.kind}/${rule.name}/${rule.mode}`),
      ['images/images/enforce', 'resources/resources/enforce', 'security/security/enforce', 'security/run-as-non-root/audit', 'cel/team-label/enforce'],
    );
  });

  it('exempts kube-system from every rule', () => {
    const policy = loadPolicy(EXAMPLE_POLICY);
    for (const rule of policy.rules) {
      assert.equal(rule.scope.applies(pod('kube-system')), false, rule.name);
      assert.equal(rule.scope.applies(pod('shop')), true, rule.name);
    }
  });
});

describe('policy files that cannot be used', () => {
  const bad: { name: string; text: string; field: string; reason: RegExp }[] = [
    { name: 'invalid YAML', text: 'rules: [unclosed\n', field: '', reason: /not valid YAML/ },
    { name: 'a list, not a mapping', text: '- kind: images\n', field: '', reason: /must be a YAML mapping/ },
    { name: 'a scalar, not a mapping', text: 'enforce\n', field: '', reason: /must be a YAML mapping/ },
    { name: 'an unknown top-level key', text: 'mode: enforce\nexemptions: []\n', field: '', reason: /Unrecognized key: "exemptions"/ },
    { name: 'an unknown global mode', text: 'mode: warn\n', field: 'mode', reason: /"enforce"\|"audit"/ },
    { name: 'rules that are not a list', text: 'rules:\n  kind: images\n', field: 'rules', reason: /expected array/ },
    { name: 'an unknown rule kind', text: 'rules:\n  - kind: images\n    allowed: ["registry.example.com/**"]\n  - kind: network\n', field: 'rules[1].kind', reason: /Invalid discriminator value\. Expected 'images' \| 'resources' \| 'security' \| 'cel'/ },
    { name: 'a rule with no kind', text: 'rules:\n  - name: x\n    allowed: ["registry.example.com/**"]\n', field: 'rules[0].kind', reason: /Invalid discriminator value/ },
    { name: 'an unknown field in a rule', text: 'rules:\n  - kind: images\n    alowed: ["registry.example.com/**"]\n', field: 'rules[0]', reason: /Unrecognized key: "alowed"/ },
    { name: 'a field of another kind of rule', text: 'rules:\n  - kind: images\n    maxMemory: 2Gi\n', field: 'rules[0]', reason: /Unrecognized key: "maxMemory"/ },
    {
      name: 'two rules of one kind, both unnamed',
      text: 'rules:\n  - kind: images\n    denyLatest: true\n  - kind: images\n    requireDigest: true\n',
      field: 'rules[1].name',
      reason: /another rule is already named "images"/,
    },
    {
      name: 'a name taken by another kind',
      text: 'rules:\n  - kind: images\n    name: pinned\n    denyLatest: true\n  - kind: cel\n    name: pinned\n    expression: "true"\n',
      field: 'rules[1].name',
      reason: /another rule is already named "pinned"/,
    },
    { name: 'a name with upper case', text: 'rules:\n  - kind: images\n    name: NoLatest\n    denyLatest: true\n', field: 'rules[0].name', reason: /must be lowercase letters, digits and "-"/ },
    { name: 'a rule mode that is not one', text: 'rules:\n  - kind: images\n    mode: dry-run\n    denyLatest: true\n', field: 'rules[0].mode', reason: /"enforce"\|"audit"/ },
    { name: 'a pattern with no registry', text: 'rules:\n  - kind: images\n    allowed:\n      - registry.example.com/**\n      - nginx\n', field: 'rules[0].allowed[1]', reason: /pattern "nginx" has no registry/ },
    { name: 'a pattern naming a digest', text: `rules:\n  - kind: images\n    denied: ["registry.example.com/app@${DIGEST}"]\n`, field: 'rules[0].denied[0]', reason: /names a digest/ },
    { name: 'a bad memory quantity', text: 'rules:\n  - kind: images\n    denyLatest: true\n  - kind: resources\n    maxMemory: 2GB\n', field: 'rules[1].maxMemory', reason: /must be a memory size such as "2Gi"/ },
    { name: 'a zero CPU cap', text: 'rules:\n  - kind: resources\n    maxCPU: 0\n', field: 'rules[0].maxCPU', reason: /must be greater than zero/ },
    { name: 'a CPU cap below the kernel minimum', text: 'rules:\n  - kind: resources\n    maxCPU: 5m\n', field: 'rules[0].maxCPU', reason: /must be at least 10m/ },
    { name: 'an unknown resources action', text: 'rules:\n  - kind: resources\n    maxMemory: 2Gi\n    action: cap\n', field: 'rules[0].action', reason: /"deny"\|"clamp"/ },
    { name: 'a resources rule that checks nothing', text: 'rules:\n  - kind: resources\n    action: clamp\n', field: 'rules[0]', reason: /set at least one of maxCPU, maxMemory, maxPodCPU, maxPodMemory or requireLimits/ },
    { name: 'a relative host path', text: 'rules:\n  - kind: security\n    allowedHostPaths: [var/log]\n', field: 'rules[0].allowedHostPaths[0]', reason: /must be an absolute path/ },
    { name: 'CEL that does not parse', text: 'rules:\n  - kind: cel\n    name: broken\n    expression: "pod.labels[\'team\'] =="\n', field: 'rules[0].expression', reason: /Unexpected token/ },
    { name: 'CEL reading a pod field that does not exist', text: 'rules:\n  - kind: cel\n    name: typo\n    expression: "pod.namespce == \'a\'"\n', field: 'rules[0].expression', reason: /No such key: namespce/ },
    { name: 'CEL that is not a bool', text: 'rules:\n  - kind: cel\n    name: count\n    expression: "size(pod.labels)"\n', field: 'rules[0].expression', reason: /must evaluate to bool, not int/ },
    { name: 'a CEL rule with no name', text: 'rules:\n  - kind: cel\n    expression: "true"\n', field: 'rules[0].name', reason: /expected string/ },
    { name: 'a CEL rule for a method it cannot judge', text: 'rules:\n  - kind: cel\n    name: x\n    expression: "true"\n    methods: [StartContainer]\n', field: 'rules[0].methods[0]', reason: /Invalid option/ },
    { name: 'rules left empty', text: 'rules:\n', field: 'rules', reason: /expected array, received null/ },
    { name: 'an exemption with an unknown key', text: 'exempt:\n  - namespace: [kube-system]\n', field: 'exempt[0]', reason: /Unrecognized key: "namespace"/ },
    { name: 'a single exemption with an unknown key', text: 'exempt:\n  namespace: [kube-system]\n', field: 'exempt', reason: /Unrecognized key: "namespace"/ },
    { name: "a rule's exemption with an unknown key", text: 'rules:\n  - kind: images\n    denyLatest: true\n    exempt:\n      namespace: [kube-system]\n', field: 'rules[0].exempt', reason: /Unrecognized key: "namespace"/ },
    {
      name: 'an In selector with no values',
      text: 'rules:\n  - kind: images\n    denyLatest: true\n    match:\n      podSelector:\n        matchExpressions:\n          - { key: env, operator: In }\n',
      field: 'rules[0].match.podSelector.matchExpressions[0].values',
      reason: /operator In needs a non-empty values list/,
    },
  ];
  for (const { name, text, field, reason } of bad) {
    it(`refuses ${name}, naming the file, ${field || '(root)'} and the reason`, () => {
      const path = writeText(text);
      assert.throws(
        () => loadPolicy(path),
        (error: unknown) => {
          assert.ok(error instanceof PolicyFileError, `expected a PolicyFileError, got ${String(error)}`);
          assert.equal(error.path, path);
          assert.ok(error.message.startsWith(`invalid policy in ${path}: `), error.message);
          const issue = error.issues.find((candidate) => candidate.field === field && reason.test(candidate.reason));
          assert.ok(issue !== undefined, `expected an issue at "${field}" matching ${String(reason)}, got ${JSON.stringify(error.issues)}`);
          assert.ok(error.message.includes(`${field || '(root)'}: ${issue.reason}`), error.message);
          return true;
        },
      );
    });
  }

  it('reports every bad field of a file at once', () => {
    const path = writeText('mode: loud\nrules:\n  - kind: resources\n    maxMemory: lots\n  - kind: images\n    allowed: [nginx]\n');
    assert.throws(
      () => loadPolicy(path),
      (error: unknown) => {
        assert.ok(error instanceof PolicyFileError);
        assert.deepEqual(error.issues.map((issue) => issue.field).sort(), ['mode', 'rules[0].maxMemory', 'rules[1].allowed[0]']);
        return true;
      },
    );
  });

  it('refuses a file that cannot be read', () => {
    assert.throws(() => loadPolicy('/nonexistent/policy.yaml'), /^PolicyFileError: invalid policy in \/nonexistent\/policy\.yaml: \(root\): cannot read file: ENOENT$/);
  });

  it('reads an empty file as no rules, enforced', () => {
    const policy = loadPolicy(writeText(''));
    assert.equal(policy.mode, 'enforce');
    assert.equal(policy.rules.length, 0);
  });

  it('takes a single exemption as well as a list', () => {
    const policy = loadPolicy(writeText('exempt:\n  namespaces: [kube-system]\nrules:\n  - kind: images\n    denyLatest: true\n'));
    assert.equal(policy.rules[0]?.scope.applies(pod('kube-system')), false);
    assert.equal(policy.rules[0]?.scope.applies(pod('shop')), true);
  });
});

describe('PolicyEngine.judge under the example policy', () => {
  const cases: { name: string; request: Message; findings: string[]; denial?: string; rewritten?: boolean }[] = [
    { name: 'allows a container that keeps every rule', request: createContainer(), findings: [] },
    {
      name: 'denies an image from elsewhere, naming the first violation and counting the rest',
      request: createContainer({ image: 'docker.io/library/nginx:latest' }),
      findings: ['images.allowed:deny:enforce', 'images.digest:deny:enforce', 'images.latest:deny:enforce'],
      denial: 'criscope policy "images.allowed": image "docker.io/library/nginx:latest" is not in an allowed registry or repository (and 2 more violations)',
    },
    {
      name: 'denies an image that is allowed but unpinned, with one more violation',
      request: createContainer({ image: 'registry.example.com/shop/web' }),
      findings: ['images.digest:deny:enforce', 'images.latest:deny:enforce'],
      denial: 'criscope policy "images.digest": image "registry.example.com/shop/web" is not pinned by digest (@sha256:…) (and 1 more violation)',
    },
    {
      name: 'denies an image under a denied pattern',
      request: createContainer({ image: `registry.example.com/sandbox/tool@${DIGEST}` }),
      findings: ['images.denied:deny:enforce'],
      denial: `criscope policy "images.denied": image "registry.example.com/sandbox/tool@${DIGEST}" matches denied pattern "registry.example.com/sandbox/**"`,
    },
    {
      name: 'denies a privileged container',
      request: createContainer({ securityContext: { privileged: true, run_as_user: { value: 1000 } } }),
      findings: ['security.privileged:deny:enforce'],
      denial: 'criscope policy "security.privileged": the container is privileged',
    },
    {
      name: 'lets kube-system run privileged, from any registry, as root, without a team label',
      request: createContainer({ namespace: 'kube-system', podLabels: {}, image: 'registry.k8s.io/kube-proxy:v1.31.0', securityContext: { privileged: true, namespace_options: { network: 'NODE' } } }),
      findings: [],
    },
    {
      name: 'denies the host network namespace',
      request: createContainer({ securityContext: { namespace_options: { network: 'NODE' }, run_as_user: { value: 1000 } } }),
      findings: ['security.hostNetwork:deny:enforce'],
      denial: 'criscope policy "security.hostNetwork": the container uses the host network namespace',
    },
    {
      name: 'allows an allowed capability, in any spelling',
      request: createContainer({ securityContext: { capabilities: { add_capabilities: ['cap_net_bind_service'] }, run_as_user: { value: 1000 } } }),
      findings: [],
    },
    {
      name: 'denies a capability outside the list',
      request: createContainer({ securityContext: { capabilities: { add_capabilities: ['NET_BIND_SERVICE', 'CAP_SYS_ADMIN'] }, run_as_user: { value: 1000 } } }),
      findings: ['security.capabilities:deny:enforce'],
      denial: 'criscope policy "security.capabilities": capability "SYS_ADMIN" is not in the allowed list (NET_BIND_SERVICE)',
    },
    {
      name: 'allows a hostPath below an allowed prefix',
      request: createContainer({ mounts: [{ container_path: '/logs', host_path: '/var/log/pods' }] }),
      findings: [],
    },
    {
      name: 'denies a hostPath outside the allowed prefixes',
      request: createContainer({ mounts: [{ container_path: '/host', host_path: '/etc' }] }),
      findings: ['security.hostPath:deny:enforce'],
      denial: 'criscope policy "security.hostPath": host path "/etc" is outside the allowed prefixes (/var/log, /etc/ssl/certs)',
    },
    {
      name: 'records a container that may run as root, in audit, and lets it through',
      request: createContainer({ securityContext: {} }),
      findings: ['run-as-non-root.runAsNonRoot:deny:audit'],
    },
    {
      name: 'denies a pod without a team label (the CEL rule)',
      request: createContainer({ podLabels: { app: 'web' } }),
      findings: ['team-label:deny:enforce'],
      denial: 'criscope policy "team-label": every pod outside kube-system needs a non-empty "team" label',
    },
    {
      name: 'clamps a memory limit above 2Gi rather than denying it',
      request: createContainer({ resources: { cpu_period: 100_000, cpu_quota: 50_000, memory_limit_in_bytes: 4 * GI } }),
      findings: ['resources.memory:clamp:enforce'],
      rewritten: true,
    },
    {
      name: 'denies, unrewritten, when a deny and a clamp meet',
      request: createContainer({ resources: { memory_limit_in_bytes: 4 * GI }, securityContext: { privileged: true, run_as_user: { value: 1000 } } }),
      findings: ['resources.cpu:clamp:enforce', 'resources.memory:clamp:enforce', 'security.privileged:deny:enforce'],
      denial: 'criscope policy "security.privileged": the container is privileged',
    },
  ];
  for (const { name, request, findings, denial, rewritten = false } of cases) {
    it(name, async () => {
      const lookups = new FakeLookups();
      const verdict = await judge(new PolicyEngine(loadPolicy(EXAMPLE_POLICY), lookups), 'CreateContainer', request);
      assert.deepEqual(findingsOf(verdict), findings);
      assert.equal(verdict.decision.denial, denial);
      assert.equal(verdict.rewritten !== undefined, rewritten);
      assert.equal(verdict.decision.method, 'CreateContainer');
      // The runtime was asked for the sandbox's pod (it knows none here, so the sandbox config stands in) and for the image.
      const image = ((request['config'] as Message)['image'] as Message)['image'];
      assert.deepEqual(lookups.calls, [
        { lookup: 'podOfSandbox', argument: 'sandbox-1' },
        { lookup: 'imageNames', argument: image },
      ]);
    });
  }

  it('denies a PullImage from elsewhere, judged by its sandbox config', async () => {
    const lookups = new FakeLookups();
    const engine = new PolicyEngine(loadPolicy(EXAMPLE_POLICY), lookups);
    const request = { image: { image: 'quay.io/evil/miner:1.0' }, sandbox_config: { metadata: { name: 'web-0', namespace: 'shop', uid: 'uid-1' }, labels: { team: 'a' } } };
    const verdict = await judge(engine, 'PullImage', request);
    assert.equal(verdict.decision.denial, 'criscope policy "images.allowed": image "quay.io/evil/miner:1.0" is not in an allowed registry or repository (and 1 more violation)');
    assert.deepEqual(verdict.decision.pod, pod('shop', { team: 'a' }));
    const exempt = await judge(engine, 'PullImage', { ...request, sandbox_config: { metadata: { namespace: 'kube-system' } } });
    assert.equal(exempt.decision.denial, undefined);
    assert.deepEqual(lookups.calls, []);
  });

  it('denies a privileged sandbox and a sandbox on the host network, outside kube-system only', async () => {
    const engine = new PolicyEngine(loadPolicy(EXAMPLE_POLICY), new FakeLookups());
    const sandbox = (namespace: string): Message => ({
      config: {
        metadata: { name: 'web-0', namespace, uid: 'uid-1' },
        labels: { team: 'a' },
        linux: { security_context: { privileged: true, namespace_options: { network: 'NODE', pid: 'NODE' } } },
      },
    });
    const denied = await judge(engine, 'RunPodSandbox', sandbox('shop'));
    assert.deepEqual(findingsOf(denied), ['security.privileged:deny:enforce', 'security.hostNetwork:deny:enforce', 'security.hostPID:deny:enforce']);
    assert.equal(denied.decision.denial, 'criscope policy "security.privileged": the sandbox is privileged (and 2 more violations)');
    assert.equal((await judge(engine, 'RunPodSandbox', sandbox('kube-system'))).decision.denial, undefined);
  });
});

describe('PolicyEngine.judge: clamps', () => {
  const memoryCap = (name: string, cap: string, mode = 'enforce'): Record<string, unknown> => ({ kind: 'resources', name, maxMemory: cap, action: 'clamp', mode });

  it('rewrites only the memory limit, keeping every other field and unknown bytes', async () => {
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi')] }), new FakeLookups());
    const request = createContainer({ resources: { cpu_period: 100_000, cpu_quota: 50_000, memory_limit_in_bytes: 4 * GI, oom_score_adj: 900 } });
    // An unknown field (number 1000, a string) after the known ones: it must reach the runtime too.
    const unknown = Buffer.from(new protobuf.Writer().uint32((1000 << 3) | 2).string('from a newer kubelet').finish());
    const bytes = Buffer.concat([encode('CreateContainer', request), unknown]);
    const verdict = await judge(engine, 'CreateContainer', bytes);
    assert.equal(verdict.decision.denial, undefined);
    assert.deepEqual(verdict.decision.clamps, [{ field: 'memory_limit_in_bytes', value: 2 * GI }]);
    assert.equal(verdict.decision.findings[0]?.reason, 'memory limit 4Gi is above the cap of 2Gi');
    const resources = resourcesIn('CreateContainer', verdict.rewritten, 'config.linux.resources');
    assert.deepEqual(resources, { cpu_period: 100_000, cpu_quota: 50_000, memory_limit_in_bytes: 2 * GI, oom_score_adj: 900 });
    const expected = decode('CreateContainer', bytes);
    ((expected['config'] as Message)['linux'] as { resources: Message }).resources['memory_limit_in_bytes'] = 2 * GI;
    assert.deepEqual(decode('CreateContainer', verdict.rewritten ?? Buffer.alloc(0)), expected);
    assert.deepEqual(verdict.rewritten?.subarray(-unknown.length), unknown);
  });

  it('sets a memory limit on a container that has none', async () => {
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi')] }), new FakeLookups());
    const verdict = await judge(engine, 'CreateContainer', createContainer({ resources: { cpu_shares: 2 } }));
    assert.equal(verdict.decision.findings[0]?.reason, 'container has no memory limit; the cap is 2Gi');
    assert.deepEqual(resourcesIn('CreateContainer', verdict.rewritten, 'config.linux.resources'), { cpu_shares: 2, memory_limit_in_bytes: 2 * GI });
  });

  const cpuCases: { name: string; resources: Message; expect: Message }[] = [
    { name: 'scales the quota down at the request period', resources: { cpu_period: 50_000, cpu_quota: 400_000 }, expect: { cpu_period: 50_000, cpu_quota: 100_000 } },
    { name: 'pins the default period when it sets a quota the request lacked', resources: { cpu_shares: 1024 }, expect: { cpu_shares: 1024, cpu_period: 100_000, cpu_quota: 200_000 } },
  ];
  for (const { name, resources, expect } of cpuCases) {
    it(`CPU: ${name}`, async () => {
      const engine = new PolicyEngine(policyOf({ rules: [{ kind: 'resources', maxCPU: '2', action: 'clamp' }] }), new FakeLookups());
      const verdict = await judge(engine, 'CreateContainer', createContainer({ resources }));
      assert.equal(verdict.decision.denial, undefined);
      assert.deepEqual(resourcesIn('CreateContainer', verdict.rewritten, 'config.linux.resources'), expect);
    });
  }

  for (const order of [['2Gi', '1Gi'], ['1Gi', '2Gi']]) {
    it(`takes the lower cap when two rules clamp memory (${order.join(' then ')})`, async () => {
      const engine = new PolicyEngine(policyOf({ rules: [memoryCap('cap-a', order[0] ?? ''), memoryCap('cap-b', order[1] ?? '')] }), new FakeLookups());
      const verdict = await judge(engine, 'CreateContainer', createContainer({ resources: { memory_limit_in_bytes: 4 * GI } }));
      assert.deepEqual(findingsOf(verdict), ['cap-a.memory:clamp:enforce', 'cap-b.memory:clamp:enforce']);
      assert.equal(resourcesIn('CreateContainer', verdict.rewritten, 'config.linux.resources')['memory_limit_in_bytes'], GI);
    });
  }

  it('turns a clamp into a denial when the request cannot be rewritten', async () => {
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi')] }), new FakeLookups());
    const verdict = await judge(engine, 'CreateContainer', createContainer({ resources: { memory_limit_in_bytes: 4 * GI } }), { rewritable: false });
    assert.equal(verdict.rewritten, undefined);
    assert.deepEqual(verdict.decision.clamps, []);
    assert.equal(
      verdict.decision.denial,
      'criscope policy "memory.memory": memory limit 4Gi is above the cap of 2Gi; the request is too large for criscope to rewrite, so it is denied',
    );
  });

  it('only records a clamp under audit, and forwards the request unchanged', async () => {
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi', 'audit')] }), new FakeLookups());
    for (const rewritable of [true, false]) {
      const verdict = await judge(engine, 'CreateContainer', createContainer({ resources: { memory_limit_in_bytes: 4 * GI } }), { rewritable });
      assert.deepEqual(findingsOf(verdict), ['memory.memory:clamp:audit']);
      assert.equal(verdict.decision.denial, undefined);
      assert.equal(verdict.rewritten, undefined);
    }
  });

  it('denies, never rewrites, a limit set through unified cgroup settings', async () => {
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi')] }), new FakeLookups());
    const verdict = await judge(engine, 'CreateContainer', createContainer({ resources: { unified: { 'memory.max': '4G' } } }));
    assert.equal(verdict.rewritten, undefined);
    assert.equal(verdict.decision.denial, 'criscope policy "memory.memory": unified "memory.max" limit 4Gi is above the cap of 2Gi');
  });

  it('clamps UpdateContainerResources in its own resources field', async () => {
    const lookups = new FakeLookups({ containers: { 'c-1': pod('shop') } });
    const engine = new PolicyEngine(policyOf({ rules: [memoryCap('memory', '2Gi')] }), lookups);
    const verdict = await judge(engine, 'UpdateContainerResources', { container_id: 'c-1', linux: { memory_limit_in_bytes: 8 * GI, cpu_quota: 10_000 } });
    assert.deepEqual(resourcesIn('UpdateContainerResources', verdict.rewritten, 'linux'), { memory_limit_in_bytes: 2 * GI, cpu_quota: 10_000 });
  });

  it('clamps UpdatePodSandboxResources to the pod cap, in resources, leaving the overhead alone', async () => {
    const lookups = new FakeLookups({ sandboxes: { 's-1': pod('shop') } });
    const engine = new PolicyEngine(policyOf({ rules: [{ kind: 'resources', maxMemory: '1Gi', maxPodMemory: '2Gi', action: 'clamp' }] }), lookups);
    const verdict = await judge(engine, 'UpdatePodSandboxResources', { pod_sandbox_id: 's-1', overhead: { memory_limit_in_bytes: 4 * GI }, resources: { memory_limit_in_bytes: 3 * GI } });
    assert.equal(verdict.decision.findings[0]?.reason, 'memory limit 3Gi is above the cap of 2Gi');
    const decoded = decode('UpdatePodSandboxResources', verdict.rewritten ?? Buffer.alloc(0));
    assert.deepEqual(decoded, { pod_sandbox_id: 's-1', overhead: { memory_limit_in_bytes: 4 * GI }, resources: { memory_limit_in_bytes: 2 * GI } });
  });
});

describe('PolicyEngine.judge: denial messages', () => {
  const rule = { kind: 'security', denyPrivileged: true, denyHostNetwork: true, denyHostPID: true, denyHostIPC: true };
  const counted: { name: string; namespaces: Message; denial: string }[] = [
    { name: 'one violation', namespaces: {}, denial: 'criscope policy "security.privileged": the container is privileged' },
    { name: 'two', namespaces: { network: 'NODE' }, denial: 'criscope policy "security.privileged": the container is privileged (and 1 more violation)' },
    { name: 'four', namespaces: { network: 'NODE', pid: 'NODE', ipc: 'NODE' }, denial: 'criscope policy "security.privileged": the container is privileged (and 3 more violations)' },
  ];
  for (const { name, namespaces, denial } of counted) {
    it(`names the first and counts the others: ${name}`, async () => {
      const engine = new PolicyEngine(policyOf({ rules: [rule] }), new FakeLookups());
      const verdict = await judge(engine, 'CreateContainer', createContainer({ securityContext: { privileged: true, namespace_options: namespaces } }));
      assert.equal(verdict.decision.denial, denial);
    });
  }

  it('counts only enforced violations, and names the first enforced one', async () => {
    const engine = new PolicyEngine(
      policyOf({ rules: [{ kind: 'images', mode: 'audit', denyLatest: true }, { kind: 'security', denyPrivileged: true }] }),
      new FakeLookups(),
    );
    const verdict = await judge(engine, 'CreateContainer', createContainer({ image: 'registry.example.com/shop/web:latest', securityContext: { privileged: true } }));
    assert.deepEqual(findingsOf(verdict), ['images.latest:deny:audit', 'security.privileged:deny:enforce']);
    assert.equal(verdict.decision.denial, 'criscope policy "security.privileged": the container is privileged');
  });

  it('records findings under a global audit mode, and denies nothing', async () => {
    const engine = new PolicyEngine(loadPolicy(writeText('mode: audit\nrules:\n  - kind: images\n    allowed: ["registry.example.com/**"]\n  - kind: security\n    denyPrivileged: true\n')), new FakeLookups());
    const verdict = await judge(engine, 'CreateContainer', createContainer({ image: 'docker.io/library/nginx:1.25', securityContext: { privileged: true } }));
    assert.deepEqual(findingsOf(verdict), ['images.allowed:deny:audit', 'security.privileged:deny:audit']);
    assert.equal(verdict.decision.denial, undefined);
    assert.equal(verdict.rewritten, undefined);
    assert.equal(verdict.decision.findings[0]?.reason, 'image "docker.io/library/nginx:1.25" is not in an allowed registry or repository');
  });

  it('denies a call whose request a CEL expression cannot read (fail closed), unless methods leaves it out', async () => {
    const rule = { kind: 'cel', name: 'our-registry', expression: "request.config.image.image.startsWith('registry.example.com/')" };
    const pull = { image: { image: 'registry.example.com/shop/web:1' }, sandbox_config: { metadata: { namespace: 'shop' } } };
    const everywhere = new PolicyEngine(policyOf({ rules: [{ ...rule, methods: ['CreateContainer', 'PullImage'] }] }), new FakeLookups());
    assert.equal((await judge(everywhere, 'CreateContainer', createContainer())).decision.denial, undefined);
    assert.equal(
      (await judge(everywhere, 'PullImage', pull)).decision.denial,
      `criscope policy "our-registry": expression "${rule.expression}" failed: No such key: config`,
    );
    const scoped = new PolicyEngine(policyOf({ rules: [{ ...rule, methods: ['CreateContainer'] }] }), new FakeLookups());
    assert.equal(scoped.holds(criMethod('PullImage')), false);
    assert.equal((await judge(scoped, 'PullImage', pull)).decision.denial, undefined);
  });

  it('lets a rule enforce under a global audit mode', async () => {
    const engine = new PolicyEngine(policyOf({ mode: 'audit', rules: [{ kind: 'security', mode: 'enforce', denyPrivileged: true }] }), new FakeLookups());
    const verdict = await judge(engine, 'CreateContainer', createContainer({ securityContext: { privileged: true } }));
    assert.equal(verdict.decision.denial, 'criscope policy "security.privileged": the container is privileged');
  });
});

describe('PolicyEngine.judge: which pods a rule applies to', () => {
  const scoped = { kind: 'security', denyPrivileged: true, match: { namespaces: ['shop'], podSelector: { matchLabels: { tier: 'front' } } }, exempt: { podSelector: { matchLabels: { trusted: 'yes' } } } };
  const fromConfig: { name: string; namespace: string; labels: Record<string, string>; denied: boolean }[] = [
    { name: 'matched by namespace and labels', namespace: 'shop', labels: { tier: 'front' }, denied: true },
    { name: 'another namespace', namespace: 'dev', labels: { tier: 'front' }, denied: false },
    { name: 'labels that do not match', namespace: 'shop', labels: { tier: 'back' }, denied: false },
    { name: 'matched but exempt by the rule', namespace: 'shop', labels: { tier: 'front', trusted: 'yes' }, denied: false },
    { name: 'matched but exempt by the file', namespace: 'shop', labels: { tier: 'front', ops: 'yes' }, denied: false },
  ];
  for (const { name, namespace, labels, denied } of fromConfig) {
    it(`CreateContainer, pod from its sandbox config: ${name}`, async () => {
      const lookups = new FakeLookups();
      const engine = new PolicyEngine(policyOf({ exempt: [{ namespaces: ['kube-system'] }, { podSelector: { matchLabels: { ops: 'yes' } } }], rules: [scoped] }), lookups);
      const verdict = await judge(engine, 'CreateContainer', createContainer({ namespace, podLabels: labels, securityContext: { privileged: true } }));
      assert.equal(verdict.decision.denial !== undefined, denied);
      assert.deepEqual(verdict.decision.pod, { namespace, name: 'web-0', uid: 'uid-1', labels });
      assert.deepEqual(lookups.made('podOfSandbox'), ['sandbox-1'], 'the runtime did not know the sandbox: its config in the request stands in');
    });
  }

  it('CreateContainer without a sandbox config: the pod is looked up by its sandbox id', async () => {
    const lookups = new FakeLookups({ sandboxes: { 'sandbox-1': pod('kube-system') } });
    const engine = new PolicyEngine(policyOf({ exempt: { namespaces: ['kube-system'] }, rules: [{ kind: 'security', denyPrivileged: true }] }), lookups);
    const verdict = await judge(engine, 'CreateContainer', createContainer({ noSandboxConfig: true, securityContext: { privileged: true } }));
    assert.equal(verdict.decision.denial, undefined);
    assert.deepEqual(lookups.calls, [{ lookup: 'podOfSandbox', argument: 'sandbox-1' }]);
  });

  const resize = { rules: [{ kind: 'resources', maxMemory: '2Gi', maxPodMemory: '2Gi', match: { namespaces: ['shop', 'kube-system'] }, exempt: { namespaces: ['kube-system'] } }] };
  const byId: { name: string; method: string; request: Message; lookups: ConstructorParameters<typeof FakeLookups>[0]; calls: FakeLookups['calls']; denied: boolean }[] = [
    {
      name: 'UpdateContainerResources of a matched pod',
      method: 'UpdateContainerResources',
      request: { container_id: 'c-1', linux: { memory_limit_in_bytes: 4 * GI } },
      lookups: { containers: { 'c-1': pod('shop') } },
      calls: [{ lookup: 'podOfContainer', argument: 'c-1' }],
      denied: true,
    },
    {
      name: 'UpdateContainerResources of an exempt pod',
      method: 'UpdateContainerResources',
      request: { container_id: 'c-2', linux: { memory_limit_in_bytes: 4 * GI } },
      lookups: { containers: { 'c-2': pod('kube-system') } },
      calls: [{ lookup: 'podOfContainer', argument: 'c-2' }],
      denied: false,
    },
    {
      name: 'UpdateContainerResources of an unknown container (in no namespace, so not matched)',
      method: 'UpdateContainerResources',
      request: { container_id: 'c-3', linux: { memory_limit_in_bytes: 4 * GI } },
      lookups: {},
      calls: [{ lookup: 'podOfContainer', argument: 'c-3' }],
      denied: false,
    },
    {
      name: 'UpdatePodSandboxResources of a matched pod',
      method: 'UpdatePodSandboxResources',
      request: { pod_sandbox_id: 's-1', resources: { memory_limit_in_bytes: 4 * GI } },
      lookups: { sandboxes: { 's-1': pod('shop') } },
      calls: [{ lookup: 'podOfSandbox', argument: 's-1' }],
      denied: true,
    },
    {
      name: 'UpdatePodSandboxResources of an exempt pod',
      method: 'UpdatePodSandboxResources',
      request: { pod_sandbox_id: 's-2', resources: { memory_limit_in_bytes: 4 * GI } },
      lookups: { sandboxes: { 's-2': pod('kube-system') } },
      calls: [{ lookup: 'podOfSandbox', argument: 's-2' }],
      denied: false,
    },
  ];
  for (const { name, method, request, lookups: known, calls, denied } of byId) {
    it(`${name}: pod looked up once by id`, async () => {
      const lookups = new FakeLookups(known);
      const verdict = await judge(new PolicyEngine(policyOf(resize), lookups), method, request);
      assert.equal(verdict.decision.denial !== undefined, denied, verdict.decision.denial);
      if (denied) assert.match(verdict.decision.denial ?? '', /^criscope policy "resources\.memory": memory limit 4Gi is above the cap of 2Gi$/);
      assert.deepEqual(lookups.calls, calls);
    });
  }

  it('judges an unknown container by every rule with no match, exemptions notwithstanding', async () => {
    const lookups = new FakeLookups();
    const engine = new PolicyEngine(policyOf({ exempt: { namespaces: ['kube-system'] }, rules: [{ kind: 'resources', maxMemory: '2Gi' }] }), lookups);
    const verdict = await judge(engine, 'UpdateContainerResources', { container_id: 'gone', linux: { memory_limit_in_bytes: 4 * GI } });
    assert.equal(verdict.decision.denial, 'criscope policy "resources.memory": memory limit 4Gi is above the cap of 2Gi');
    assert.deepEqual(verdict.decision.pod, { namespace: '', name: '', uid: '', labels: {} });
  });
});

describe('PolicyEngine.judge: image ids', () => {
  const imagesPolicy = { rules: [{ kind: 'images', allowed: ['registry.example.com/**'], requireDigest: true }] };
  const cases: { name: string; image: string; userSpecified?: string; images?: Record<string, readonly string[]>; lookedUp: string[]; denial?: string }[] = [
    {
      name: 'an id is judged by the names the runtime knows it by',
      image: IMAGE_ID,
      images: { [IMAGE_ID]: ['registry.example.com/shop/web:1.0', `registry.example.com/shop/web@${DIGEST}`] },
      lookedUp: [IMAGE_ID],
    },
    {
      name: 'an id known only by names from elsewhere is denied',
      image: IMAGE_ID,
      images: { [IMAGE_ID]: ['docker.io/library/nginx:1.25', `docker.io/library/nginx@${DIGEST}`] },
      lookedUp: [IMAGE_ID],
      denial: 'criscope policy "images.allowed": image "docker.io/library/nginx:1.25" is not in an allowed registry or repository',
    },
    {
      name: 'an id the runtime does not know is denied',
      image: IMAGE_ID,
      lookedUp: [IMAGE_ID],
      denial: `criscope policy "images.resolve": image "${IMAGE_ID}" could not be resolved to a name: image "${IMAGE_ID}" not found`,
    },
    {
      name: 'an id the runtime knows by no name is denied',
      image: IMAGE_ID,
      images: { [IMAGE_ID]: [] },
      lookedUp: [IMAGE_ID],
      denial: `criscope policy "images.resolve": image "${IMAGE_ID}" could not be resolved to a name: the runtime knows it by no name`,
    },
    {
      name: 'a bare hex id is looked up too',
      image: 'b'.repeat(64),
      images: { ['b'.repeat(64)]: [`registry.example.com/shop/web@${DIGEST}`] },
      lookedUp: ['b'.repeat(64)],
    },
    {
      name: "kubelet's user_specified_image is judged instead of the id, once the runtime knows the id by that name",
      image: IMAGE_ID,
      userSpecified: `registry.example.com/shop/web@${DIGEST}`,
      images: { [IMAGE_ID]: ['docker.io/library/web:1', `registry.example.com/shop/web@${DIGEST}`] },
      lookedUp: [IMAGE_ID],
    },
    {
      name: 'a user_specified_image the id does not go by is denied, however allowed its name (no naming a good image beside a bad id)',
      image: IMAGE_ID,
      userSpecified: `registry.example.com/shop/web@${DIGEST}`,
      images: { [IMAGE_ID]: ['docker.io/library/nginx:1.27'] },
      lookedUp: [IMAGE_ID],
      denial: `criscope policy "images.resolve": image "${IMAGE_ID}" could not be resolved to a name: the runtime does not know it as "registry.example.com/shop/web@${DIGEST}"`,
    },
    {
      name: 'a user_specified_image from elsewhere is denied by its name',
      image: IMAGE_ID,
      userSpecified: 'nginx:1.27',
      images: { [IMAGE_ID]: ['docker.io/library/nginx:1.27'] },
      lookedUp: [IMAGE_ID],
      denial: 'criscope policy "images.allowed": image "docker.io/library/nginx:1.27" is not in an allowed registry or repository (and 1 more violation)',
    },
    { name: 'a name the image goes by is judged as it is, once the runtime resolves it', image: GOOD_IMAGE, lookedUp: [GOOD_IMAGE] },
    {
      name: 'a short id, which the runtime resolves to an image, is judged by that image\'s names',
      image: 'sha256:0123abcd',
      images: { 'sha256:0123abcd': ['docker.io/library/nginx:1.27'] },
      lookedUp: ['sha256:0123abcd'],
      denial: 'criscope policy "images.allowed": image "docker.io/library/nginx:1.27" is not in an allowed registry or repository (and 1 more violation)',
    },
  ];
  for (const { name, image, userSpecified, images, lookedUp, denial } of cases) {
    it(name, async () => {
      const lookups = new FakeLookups(images === undefined ? {} : { images });
      const engine = new PolicyEngine(policyOf(imagesPolicy), lookups);
      const verdict = await judge(engine, 'CreateContainer', createContainer(userSpecified === undefined ? { image } : { image, userSpecifiedImage: userSpecified }));
      assert.equal(verdict.decision.denial, denial);
      assert.deepEqual(lookups.made('imageNames'), lookedUp);
    });
  }

  it('never resolves an image when no images rule judges the method', async () => {
    const lookups = new FakeLookups();
    const engine = new PolicyEngine(policyOf({ rules: [{ kind: 'resources', maxMemory: '2Gi' }, { kind: 'security', denyPrivileged: true }, { kind: 'cel', name: 'any', expression: 'true' }] }), lookups);
    const verdict = await judge(engine, 'CreateContainer', createContainer({ image: IMAGE_ID }));
    assert.equal(verdict.decision.denial, undefined);
    assert.deepEqual(lookups.made('imageNames'), []);
  });

  it("takes a CreateContainer's pod from the runtime's record of its sandbox, not from a sandbox config the request could forge", async () => {
    const lookups = new FakeLookups({ sandboxes: { 'sandbox-1': pod('shop', { team: 'payments' }) } });
    const engine = new PolicyEngine(policyOf({ exempt: { namespaces: ['kube-system'] }, rules: [{ kind: 'security', denyPrivileged: true }] }), lookups);
    const verdict = await judge(engine, 'CreateContainer', createContainer({ namespace: 'kube-system', securityContext: { privileged: true } }));
    assert.equal(verdict.decision.pod.namespace, 'shop');
    assert.equal(verdict.decision.denial, 'criscope policy "security.privileged": the container is privileged');
  });

  it('never resolves an image for a method an images rule does not judge', async () => {
    const lookups = new FakeLookups({ containers: { 'c-1': pod('shop') } });
    const engine = new PolicyEngine(policyOf({ rules: [...imagesPolicy.rules, { kind: 'resources', maxMemory: '2Gi' }] }), lookups);
    await judge(engine, 'UpdateContainerResources', { container_id: 'c-1', linux: { memory_limit_in_bytes: GI } });
    assert.deepEqual(lookups.made('imageNames'), []);
  });

  it('judges a CreateContainer with no image as an empty name, which is denied', async () => {
    const engine = new PolicyEngine(policyOf(imagesPolicy), new FakeLookups());
    const request = createContainer();
    delete (request['config'] as Message)['image'];
    const verdict = await judge(engine, 'CreateContainer', request);
    assert.match(verdict.decision.denial ?? '', /^criscope policy "images\.resolve": /);
  });
});

describe('PolicyEngine.judge: requests it cannot read', () => {
  const privileged = { rules: [{ kind: 'security', denyPrivileged: true }] };
  /** config (field 2), length-delimited, claiming 100 bytes where there are 2. */
  const truncated = Buffer.from([0x12, 100, 0x0a, 0x00]);

  for (const mode of ['enforce', 'audit'] as const) {
    it(`${mode}: undecodable bytes are a finding of the "${DECODE_RULE}" rule, ${mode === 'enforce' ? 'denied' : 'forwarded'}`, async () => {
      const engine = new PolicyEngine(policyOf({ mode, ...privileged }), new FakeLookups());
      const verdict = await judge(engine, 'CreateContainer', truncated);
      assert.deepEqual(findingsOf(verdict), [`decode:deny:${mode}`]);
      assert.match(verdict.decision.findings[0]?.reason ?? '', /^the request cannot be decoded: /);
      if (mode === 'enforce') assert.match(verdict.decision.denial ?? '', /^criscope policy "decode": the request cannot be decoded: /);
      else assert.equal(verdict.decision.denial, undefined);
      assert.equal(verdict.rewritten, undefined);
    });
  }

  it('a message the relay could not read is denied with its reason', async () => {
    const engine = new PolicyEngine(policyOf(privileged), new FakeLookups());
    const verdict = await engine.judge(criMethod('CreateContainer'), undefined, 'the message is compressed with "snappy", which criscope cannot read', true);
    assert.equal(verdict.decision.denial, 'criscope policy "decode": the message is compressed with "snappy", which criscope cannot read');
  });

  it('a known field with the wrong wire type is undecodable', async () => {
    const engine = new PolicyEngine(policyOf(privileged), new FakeLookups());
    // config (field 2) as a varint: protobufjs would misread it, the runtime would keep it aside.
    const verdict = await judge(engine, 'CreateContainer', Buffer.from([0x10, 0x01]));
    assert.match(verdict.decision.denial ?? '', /^criscope policy "decode": /);
  });

  it('a singular message field given twice is denied, since the runtime would merge what criscope judged apart', async () => {
    const engine = new PolicyEngine(policyOf(privileged), new FakeLookups());
    const containerConfig = criMethod('CreateContainer').requestType.fields['config']?.resolvedType as protobuf.Type;
    // config.linux twice: the first privileged, the second not. protobufjs keeps the last; Go merges both.
    const linux = (securityContext: Message): Uint8Array =>
      containerConfig.encode(containerConfig.fromObject({ linux: { security_context: securityContext } })).finish();
    const config = Buffer.concat([
      containerConfig.encode(containerConfig.fromObject({ metadata: { name: 'app' }, image: { image: GOOD_IMAGE } })).finish(),
      linux({ privileged: true }),
      linux({ run_as_user: { value: 1000 } }),
    ]);
    const request = Buffer.concat([Buffer.from(new protobuf.Writer().uint32((2 << 3) | 2).bytes(config).finish()), encode('CreateContainer', { sandbox_config: { metadata: { namespace: 'shop' } } })]);
    const verdict = await judge(engine, 'CreateContainer', request);
    assert.equal(verdict.decision.denial, 'criscope policy "decode": the request\'s field "config.linux" is encoded in a way criscope does not judge (a singular message sent more than once)');
  });

  it('a look-up that fails is a failure to judge: denied under enforce', async () => {
    const lookups: PolicyLookups = {
      podOfSandbox: () => Promise.reject(new Error('the runtime is unavailable')),
      podOfContainer: () => Promise.reject(new Error('the runtime is unavailable')),
      imageNames: () => Promise.reject(new Error('unused')),
    };
    const engine = new PolicyEngine(policyOf({ rules: [{ kind: 'resources', maxMemory: '2Gi' }] }), lookups);
    const verdict = await judge(engine, 'UpdateContainerResources', { container_id: 'c-1', linux: { memory_limit_in_bytes: GI } });
    assert.equal(verdict.decision.denial, 'criscope policy "decode": criscope could not judge the request: the runtime is unavailable');
  });

  it('allows any bytes for a method policy never judges', async () => {
    const engine = new PolicyEngine(policyOf(privileged), new FakeLookups());
    const verdict = await engine.judge(criMethod('Version'), truncated, undefined, true);
    assert.equal(verdict.decision.denial, undefined);
    assert.deepEqual(verdict.decision.findings, []);
  });
});

describe('PolicyEngine.holds and replace', () => {
  const methods = ['RunPodSandbox', 'PullImage', 'CreateContainer', 'UpdateContainerResources', 'UpdatePodSandboxResources', 'StartContainer', 'Version', 'ImageStatus', 'RemoveImage'];
  const cases: { name: string; file: Record<string, unknown>; held: string[] }[] = [
    { name: 'no rules', file: {}, held: [] },
    { name: 'an images rule', file: { rules: [{ kind: 'images', denyLatest: true }] }, held: ['PullImage', 'CreateContainer'] },
    { name: 'a resources rule', file: { rules: [{ kind: 'resources', maxMemory: '2Gi' }] }, held: ['CreateContainer', 'UpdateContainerResources'] },
    { name: 'a resources rule with a pod cap', file: { rules: [{ kind: 'resources', maxPodMemory: '4Gi' }] }, held: ['UpdatePodSandboxResources'] },
    { name: 'a security rule', file: { rules: [{ kind: 'security', denyPrivileged: true }] }, held: ['RunPodSandbox', 'CreateContainer'] },
    { name: 'a CEL rule for all methods', file: { rules: [{ kind: 'cel', name: 'x', expression: 'true' }] }, held: ['RunPodSandbox', 'PullImage', 'CreateContainer', 'UpdateContainerResources', 'UpdatePodSandboxResources'] },
    { name: 'a CEL rule for one method', file: { rules: [{ kind: 'cel', name: 'x', expression: 'true', methods: ['PullImage'] }] }, held: ['PullImage'] },
    { name: 'a rule in audit mode', file: { mode: 'audit', rules: [{ kind: 'security', denyPrivileged: true }] }, held: ['RunPodSandbox', 'CreateContainer'] },
  ];
  for (const { name, file, held } of cases) {
    it(`holds only the methods with rules: ${name}`, () => {
      const engine = new PolicyEngine(policyOf(file), new FakeLookups());
      assert.deepEqual(
        methods.filter((method) => engine.holds(criMethod(method))),
        held,
      );
    });
  }

  it('switches to a new policy with replace()', async () => {
    const lookups = new FakeLookups();
    const engine = new PolicyEngine(policyOf({}), lookups);
    const request = createContainer({ securityContext: { privileged: true } });
    assert.equal(engine.holds(criMethod('CreateContainer')), false);
    assert.equal((await judge(engine, 'CreateContainer', request)).decision.denial, undefined);
    const strict = policyOf({ rules: [{ kind: 'security', denyPrivileged: true }] });
    engine.replace(strict);
    assert.equal(engine.policy, strict);
    assert.equal(engine.holds(criMethod('CreateContainer')), true);
    assert.equal((await judge(engine, 'CreateContainer', request)).decision.denial, 'criscope policy "security.privileged": the container is privileged');
  });

  it('finishes a judgement under the policy it started with', async () => {
    const lenient = policyOf({});
    // The look-up runs mid-judgement, after `engine` is made.
    const lookups = new FakeLookups({ containers: { 'c-1': pod('shop') }, duringContainerLookup: () => engine.replace(lenient) });
    const engine = new PolicyEngine(policyOf({ rules: [{ kind: 'resources', maxMemory: '2Gi' }] }), lookups);
    const verdict = await judge(engine, 'UpdateContainerResources', { container_id: 'c-1', linux: { memory_limit_in_bytes: 4 * GI } });
    assert.equal(engine.policy, lenient);
    assert.equal(verdict.decision.denial, 'criscope policy "resources.memory": memory limit 4Gi is above the cap of 2Gi');
  });
});

describe('runtime.v1alpha2 calls', () => {
  const judgedAs: { path: string; as: string | undefined }[] = [
    { path: '/runtime.v1alpha2.RuntimeService/CreateContainer', as: 'CreateContainer' },
    { path: '/runtime.v1alpha2.RuntimeService/RunPodSandbox', as: 'RunPodSandbox' },
    { path: '/runtime.v1alpha2.RuntimeService/UpdateContainerResources', as: 'UpdateContainerResources' },
    { path: '/runtime.v1alpha2.ImageService/PullImage', as: 'PullImage' },
    { path: '/runtime.v1.RuntimeService/CreateContainer', as: 'CreateContainer' },
    { path: '/runtime.v1alpha2.RuntimeService/Version', as: undefined },
    { path: '/runtime.v1alpha2.RuntimeService/StartContainer', as: undefined },
    { path: '/runtime.v1.RuntimeService/Version', as: undefined },
    { path: '/runtime.v1alpha2.ImageService/ImageStatus', as: undefined },
    { path: '/runtime.v1alpha2.RuntimeService/NoSuchMethod', as: undefined },
    { path: '/other.v1.Service/CreateContainer', as: undefined },
  ];
  for (const { path, as } of judgedAs) {
    it(`${path} is judged as ${as ?? 'nothing'}`, () => {
      const method = criTable.judgedAs(path);
      if (as === undefined) assert.equal(method, undefined);
      else assert.equal(method, criMethod(as));
    });
  }
});
