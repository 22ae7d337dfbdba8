import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { toMessageObject, type MessageObject } from '../../src/cri/message-object.js';
import { loadCriProto } from '../../src/cri/proto-root.js';
import { CEL_METHODS, celRule, celRuleSchema } from '../../src/policy/rules/cel-rule.js';
import type { PolicySubject, Violation } from '../../src/policy/types.js';
import type { PodIdentity } from '../../src/cri/pod-identity.js';

const root = loadCriProto();
const createContainer = root.lookupType('runtime.v1.CreateContainerRequest');

/** A CreateContainerRequest as kubelet sends it, through the wire so 64-bit ints arrive as Longs. */
function createRequest(config: Record<string, unknown> = {}): MessageObject {
  const message = createContainer.fromObject({
    pod_sandbox_id: 'sandbox-1',
    config: { metadata: { name: 'app', attempt: 1 }, image: { image: 'registry.example.com/team/app:1.2' }, ...config },
    sandbox_config: { metadata: { name: 'web-0', uid: 'uid-1', namespace: 'team-a' }, labels: { team: 'a' } },
  });
  return toMessageObject(createContainer, createContainer.decode(createContainer.encode(message).finish()));
}

/** A field several levels down, as an object. */
function at(object: MessageObject, ...path: string[]): MessageObject {
  return path.reduce<MessageObject>((parent, key) => parent[key] as MessageObject, object);
}

describe('toMessageObject', () => {
  const request = createRequest({
    envs: [{ key: 'PATH', value: Buffer.from('/bin') }],
    mounts: [{ container_path: '/data', host_path: '/srv/data', propagation: 'PROPAGATION_HOST_TO_CONTAINER', uidMappings: [{ host_id: 4294967295, length: 1 }] }],
    labels: { app: 'web' },
    linux: {
      resources: {
        cpu_quota: 50000,
        memory_limit_in_bytes: '9223372036854775807',
        oom_score_adj: -998,
        hugepage_limits: [{ page_size: '2MB', limit: '18446744073709551615' }],
        unified: { 'memory.max': '1G' },
      },
      security_context: { capabilities: { add_capabilities: ['NET_ADMIN'] }, namespace_options: { network: 'NODE', ipc: 7 }, run_as_user: { value: 0 } },
    },
  });
  const config = at(request, 'config');
  const resources = at(config, 'linux', 'resources');
  const security = at(config, 'linux', 'security_context');

  it('keeps the proto field names', () => {
    assert.equal(request['pod_sandbox_id'], 'sandbox-1');
    assert.equal(at(config, 'image')['image'], 'registry.example.com/team/app:1.2');
    assert.deepEqual(at(config, 'linux', 'security_context', 'capabilities')['add_capabilities'], ['NET_ADMIN']);
  });

  it('gives every integer type as a bigint, with its sign and full 64 bits', () => {
    assert.equal(resources['cpu_quota'], 50000n);
    assert.equal(resources['memory_limit_in_bytes'], 9223372036854775807n);
    assert.equal(resources['oom_score_adj'], -998n);
    assert.equal((resources['hugepage_limits'] as MessageObject[])[0]?.['limit'], 18446744073709551615n);
    assert.equal(at(config, 'metadata')['attempt'], 1n);
    assert.equal((at(config, 'mounts', '0')['uidMappings'] as MessageObject[])[0]?.['host_id'], 4294967295n);
    assert.equal(at(security, 'run_as_user')['value'], 0n);
  });

  it('converts integers the same whether built by hand or decoded', () => {
    const built = createContainer.fromObject({ config: { linux: { resources: { memory_limit_in_bytes: 1073741824, oom_score_adj: -1 } } } });
    const converted = at(toMessageObject(createContainer, built), 'config', 'linux', 'resources');
    assert.equal(converted['memory_limit_in_bytes'], 1073741824n);
    assert.equal(converted['oom_score_adj'], -1n);
  });

  it('names enum values, and shows an unknown one as its number', () => {
    assert.equal(at(security, 'namespace_options')['network'], 'NODE');
    assert.equal(at(security, 'namespace_options')['pid'], 'POD');
    assert.equal(at(security, 'namespace_options')['ipc'], '7');
    assert.equal(at(config, 'mounts', '0')['propagation'], 'PROPAGATION_HOST_TO_CONTAINER');
    assert.equal(config['stop_signal'], 'RUNTIME_DEFAULT');
  });

  it('fills unset scalars, lists and maps with their proto3 defaults', () => {
    assert.equal(security['privileged'], false);
    assert.equal(security['run_as_username'], '');
    assert.equal(resources['cpu_period'], 0n);
    assert.deepEqual(config['args'], []);
    assert.deepEqual(config['annotations'], {});
    assert.equal(at(request, 'sandbox_config', 'metadata')['attempt'], 0n);
  });

  it('leaves unset message fields out', () => {
    assert.equal(Object.hasOwn(config, 'windows'), false);
    assert.equal(Object.hasOwn(security, 'run_as_group'), false);
    assert.equal(Object.hasOwn(at(createRequest(), 'config'), 'linux'), false);
    assert.equal(Object.hasOwn(security, 'run_as_user'), true);
  });

  it('gives maps as plain objects', () => {
    assert.deepEqual(config['labels'], { app: 'web' });
    assert.deepEqual(resources['unified'], { 'memory.max': '1G' });
    assert.equal(Object.getPrototypeOf(config['labels']), Object.prototype);
  });

  it('gives bytes as a plain Uint8Array', () => {
    const value = (config['envs'] as MessageObject[])[0]?.['value'];
    assert.ok(value instanceof Uint8Array && !Buffer.isBuffer(value));
    assert.deepEqual(value, new Uint8Array(Buffer.from('/bin')));
  });
});

const POD: PodIdentity = Object.freeze({ namespace: 'team-a', name: 'web-0', uid: 'uid-1', labels: Object.freeze({ team: 'a' }) });

function subject(request: MessageObject, pod: Partial<PodIdentity> = {}, method = 'CreateContainer'): PolicySubject {
  return { method, request, pod: { ...POD, ...pod } };
}

/** The rule judging `call`'s method (an expression that reads the request must name its methods). */
function judge(settings: Record<string, unknown>, call: PolicySubject): readonly Violation[] {
  return celRule(celRuleSchema.parse({ methods: [call.method], ...settings })).evaluate(call);
}

describe('celRule', () => {
  const decisions: { name: string; expression: string; call: PolicySubject; allowed: boolean }[] = [
    { name: 'a pod outside default', expression: 'pod.namespace != "default"', call: subject(createRequest()), allowed: true },
    { name: 'a pod in default', expression: 'pod.namespace != "default"', call: subject(createRequest(), { namespace: 'default' }), allowed: false },
    { name: 'a labelled pod (has)', expression: 'has(pod.labels.team)', call: subject(createRequest()), allowed: true },
    { name: 'an unlabelled pod (has)', expression: 'has(pod.labels.team)', call: subject(createRequest(), { labels: {} }), allowed: false },
    { name: 'an unlabelled pod (in)', expression: '"team" in pod.labels', call: subject(createRequest(), { labels: { app: 'web' } }), allowed: false },
    {
      name: 'a 1 GiB memory limit under 2 GiB',
      expression: 'request.config.linux.resources.memory_limit_in_bytes <= 2147483648',
      call: subject(createRequest({ linux: { resources: { memory_limit_in_bytes: 1073741824 } } })),
      allowed: true,
    },
    {
      name: 'a 4 GiB memory limit over 2 GiB',
      expression: 'request.config.linux.resources.memory_limit_in_bytes <= 2147483648',
      call: subject(createRequest({ linux: { resources: { memory_limit_in_bytes: 4294967296 } } })),
      allowed: false,
    },
    {
      name: 'an image from the trusted registry',
      expression: 'request.config.image.image.startsWith("registry.example.com/")',
      call: subject(createRequest()),
      allowed: true,
    },
    {
      name: 'an image from elsewhere',
      expression: 'request.config.image.image.startsWith("registry.example.com/")',
      call: subject(createRequest({ image: { image: 'docker.io/library/nginx:latest' } })),
      allowed: false,
    },
    {
      name: 'a container whose privileged flag is unset',
      expression: '!request.config.linux.security_context.privileged',
      call: subject(createRequest({ linux: { security_context: {} } })),
      allowed: true,
    },
    {
      name: 'a privileged container',
      expression: '!request.config.linux.security_context.privileged',
      call: subject(createRequest({ linux: { security_context: { privileged: true } } })),
      allowed: false,
    },
    {
      name: 'a container with harmless environment variables',
      expression: 'request.config.envs.all(e, e.key != "AWS_SECRET_ACCESS_KEY")',
      call: subject(createRequest({ envs: [{ key: 'PATH', value: Buffer.from('/bin') }] })),
      allowed: true,
    },
    {
      name: 'a container given a cloud secret',
      expression: 'request.config.envs.all(e, e.key != "AWS_SECRET_ACCESS_KEY")',
      call: subject(createRequest({ envs: [{ key: 'PATH' }, { key: 'AWS_SECRET_ACCESS_KEY', value: Buffer.from('x') }] })),
      allowed: false,
    },
    {
      name: 'a container in the host network, judged by enum name',
      expression: '!has(request.config.linux) || request.config.linux.security_context.namespace_options.network != "NODE"',
      call: subject(createRequest({ linux: { security_context: { namespace_options: { network: 'NODE' } } } })),
      allowed: false,
    },
    {
      name: 'a container without linux settings, guarded by has()',
      expression: '!has(request.config.linux) || request.config.linux.security_context.namespace_options.network != "NODE"',
      call: subject(createRequest()),
      allowed: true,
    },
    {
      name: 'another method, told apart by method',
      expression: 'method != "CreateContainer" || pod.namespace != "team-a"',
      call: subject({ image: { image: 'nginx' } }, {}, 'PullImage'),
      allowed: true,
    },
  ];
  for (const { name, expression, call, allowed } of decisions) {
    it(`${allowed ? 'allows' : 'denies'} ${name}`, () => {
      const violations = judge({ expression }, call);
      assert.deepEqual(violations.length === 0, allowed, JSON.stringify(violations));
    });
  }

  it('denies with the rule message, or names the expression when there is none', () => {
    const call = subject(createRequest(), { namespace: 'default' });
    assert.deepEqual(judge({ expression: 'pod.namespace != "default"', message: 'no workloads in default' }, call), [
      { check: '', action: 'deny', reason: 'no workloads in default' },
    ]);
    assert.deepEqual(judge({ expression: 'pod.namespace != "default"' }, call), [
      { check: '', action: 'deny', reason: 'expression "pod.namespace != "default"" is false' },
    ]);
  });

  const failures: { name: string; expression: string; reason: RegExp }[] = [
    { name: 'a missing key', expression: 'request.config.linux.security_context.privileged == false', reason: /failed: No such key: linux$/ },
    { name: 'a missing label', expression: 'pod.labels.owner == "me"', reason: /failed: No such key: owner$/ },
    { name: 'a result that is not a bool', expression: 'request.config.image.image', reason: /failed: it gave string, not bool$/ },
    { name: 'an integer overflow', expression: 'request.config.linux.resources.memory_limit_in_bytes * 2 > 0', reason: /failed: integer overflow/ },
  ];
  for (const { name, expression, reason } of failures) {
    it(`fails closed on ${name}`, () => {
      const call = subject(createRequest(name === 'an integer overflow' ? { linux: { resources: { memory_limit_in_bytes: '9223372036854775807' } } } : {}));
      const violations = judge({ expression, message: 'not shown' }, call);
      assert.equal(violations.length, 1);
      assert.equal(violations[0]?.action, 'deny');
      assert.equal(violations[0]?.check, '');
      assert.match(violations[0]?.reason ?? '', reason);
      assert.ok(violations[0]?.reason.startsWith(`expression "${expression}" failed: `));
    });
  }

  const invalid: { name: string; settings: Record<string, unknown>; path: (string | number)[]; message: RegExp }[] = [
    { name: 'a syntax error', settings: { expression: 'pod.namespace ==' }, path: ['expression'], message: /Unexpected token/ },
    { name: 'an unknown variable', settings: { expression: 'labels.team == "a"' }, path: ['expression'], message: /Unknown variable: labels/ },
    { name: 'a misspelt pod field', settings: { expression: 'pod.namspace == "a"' }, path: ['expression'], message: /No such key: namspace/ },
    { name: 'a type error', settings: { expression: 'method + 1 == 2' }, path: ['expression'], message: /no such overload: string \+ int/ },
    { name: 'a result that cannot be a bool', settings: { expression: 'pod.name' }, path: ['expression'], message: /must evaluate to bool, not string/ },
    { name: 'an expression nested too deep', settings: { expression: `${'('.repeat(100)}true${')'.repeat(100)}` }, path: ['expression'], message: /Exceeded maxDepth/ },
    { name: 'an empty expression', settings: { expression: '' }, path: ['expression'], message: /too small|>=1 character/ },
    { name: 'an unknown method', settings: { expression: 'true', methods: ['StopContainer'] }, path: ['methods', 0], message: /Invalid option/ },
    { name: 'an empty method list', settings: { expression: 'true', methods: [] }, path: ['methods'], message: /at least one method/ },
    { name: 'an unknown key', settings: { expression: 'true', failurePolicy: 'Ignore' }, path: [], message: /Unrecognized key: "failurePolicy"/ },
    {
      name: 'an expression over the request without methods (each method has its own request shape)',
      settings: { expression: 'has(request.config)' },
      path: ['methods'],
      message: /must list the methods it judges/,
    },
  ];
  for (const { name, settings, path, message } of invalid) {
    it(`refuses ${name}, at its path`, () => {
      const result = celRuleSchema.safeParse(settings);
      assert.ok(!result.success);
      assert.deepEqual(result.error.issues[0]?.path, path);
      assert.match(result.error.issues[0]?.message ?? '', message);
    });
  }

  it('compiles inside a rule schema built from its shape', () => {
    const ruleSchema = z.strictObject({ kind: z.literal('cel'), name: z.string(), ...celRuleSchema.shape });
    const result = ruleSchema.safeParse({ kind: 'cel', name: 'no-default', expression: 'pod.namespace ==' });
    assert.ok(!result.success);
    assert.deepEqual(result.error.issues[0]?.path, ['expression']);
    const { expression } = ruleSchema.parse({ kind: 'cel', name: 'no-default', expression: 'true' });
    assert.equal(expression.source, 'true');
  });

  it('judges every policy method unless told which', () => {
    assert.deepEqual([...celRule(celRuleSchema.parse({ expression: 'true' })).methods], [...CEL_METHODS]);
    const pullsOnly = celRule(celRuleSchema.parse({ expression: 'true', methods: ['PullImage', 'PullImage'] }));
    assert.deepEqual([...pullsOnly.methods], ['PullImage']);
  });
});
