import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { loadCriProto } from '../../src/cri/proto-root.js';
import { findAmbiguousEncoding } from '../../src/cri/repeated-messages.js';
import { fieldNumbers, setVarintField } from '../../src/cri/wire-edit.js';
import { readFields } from '../../src/cri/wire-fields.js';

const root = loadCriProto();
const CreateContainerRequest = root.lookupType('runtime.v1.CreateContainerRequest');
const ContainerConfig = root.lookupType('runtime.v1.ContainerConfig');
const LinuxContainerConfig = root.lookupType('runtime.v1.LinuxContainerConfig');
const LinuxContainerResources = root.lookupType('runtime.v1.LinuxContainerResources');
const Mount = root.lookupType('runtime.v1.Mount');
const UpdateContainerResourcesRequest = root.lookupType('runtime.v1.UpdateContainerResourcesRequest');
const UpdatePodSandboxResourcesRequest = root.lookupType('runtime.v1.UpdatePodSandboxResourcesRequest');
const MEMORY_LIMIT = LinuxContainerResources.fields.memory_limit_in_bytes.id;

const EMPTY: Uint8Array = new Uint8Array(0);

function encode(type: protobuf.Type, message: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s/g, ''), 'hex');
}

/** Raw fields, written with protobufjs's Writer so the tests don't lean on the encoder under test. */
function varintField(number: number, value: number | string): Buffer {
  return Buffer.from(protobuf.Writer.create().uint32(number * 8).int64(value).finish());
}

function messageField(number: number, ...parts: Uint8Array[]): Buffer {
  return Buffer.from(protobuf.Writer.create().uint32(number * 8 + 2).bytes(Buffer.concat(parts)).finish());
}

/** Unknown to runtime.v1: a varint, a length-delimited field and a group holding a field. */
const UNKNOWN = Buffer.concat([varintField(999, 42), messageField(1000, Buffer.from('opaque')), hex('c33e 0801 c43e')]);

/** What the kubelet sends, give or take. */
const kubeletRequest = {
  pod_sandbox_id: 'sandbox-1',
  config: {
    metadata: { name: 'app', attempt: 1 },
    image: { image: 'docker.io/library/nginx:1.27', annotations: { 'io.kubernetes.cri.image-pull': 'always' } },
    command: ['nginx'],
    args: ['-g', 'daemon off;'],
    envs: [{ key: 'MODE', value: Buffer.from('production') }],
    mounts: [
      { container_path: '/data', host_path: '/var/lib/kubelet/pods/u/volumes/data', image: { image: 'busybox' } },
      { container_path: '/etc/hosts', host_path: '/var/lib/kubelet/pods/u/etc-hosts', readonly: true },
    ],
    labels: { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.namespace': 'default' },
    annotations: { 'io.kubernetes.container.restartCount': '1' },
    log_path: 'app/1.log',
    linux: {
      resources: {
        cpu_period: 100000,
        cpu_quota: 50000,
        cpu_shares: 512,
        memory_limit_in_bytes: 268435456,
        oom_score_adj: 1000,
        hugepage_limits: [{ page_size: '2MB', limit: 0 }],
        unified: { 'memory.high': '200000000' },
      },
      security_context: {
        capabilities: { drop_capabilities: ['ALL'] },
        run_as_user: { value: 1000 },
        supplemental_groups: [1000, 2000],
        masked_paths: ['/proc/kcore'],
        seccomp: { profile_type: 'RuntimeDefault' },
      },
    },
  },
  sandbox_config: {
    metadata: { name: 'web', uid: 'u', namespace: 'default', attempt: 0 },
    linux: { cgroup_parent: '/kubepods/burstable/podu', security_context: { run_as_user: { value: 1000 } } },
  },
};

/** The memory limit protobufjs decodes inside the message at `dottedPath`. */
function memoryLimitOf(type: protobuf.Type, bytes: Uint8Array, dottedPath: string): unknown {
  let value: unknown = type.toObject(type.decode(bytes), { longs: String });
  for (const name of [...dottedPath.split('.'), 'memory_limit_in_bytes']) value = (value as Record<string, unknown> | undefined)?.[name];
  return value;
}

interface RawField {
  readonly number: number;
  readonly raw: Uint8Array;
  readonly body: Uint8Array;
}

/** The fields of a message as protobufjs's Reader sees them. */
function rawFields(bytes: Uint8Array): RawField[] {
  const reader = protobuf.Reader.create(bytes);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    let body: Uint8Array = EMPTY;
    if ((tag & 7) === 2) {
      const length = reader.uint32();
      body = bytes.subarray(reader.pos, reader.pos + length);
      reader.skip(length);
    } else {
      reader.skipType(tag & 7);
    }
    fields.push({ number: tag >>> 3, raw: bytes.subarray(start, reader.pos), body });
  }
  return fields;
}

/**
 * The message with the last occurrence of `field` under `path` taken out, a
 * path message left empty dropped: an edit changed nothing else exactly when
 * the message before and after it strip to the same bytes.
 */
function strip(bytes: Uint8Array, path: readonly number[], field: number): Buffer {
  const fields = rawFields(bytes);
  const [head, ...rest] = path;
  const index = fields.map((candidate) => candidate.number).lastIndexOf(head ?? field);
  const kept = fields.map((candidate) => candidate.raw);
  if (index !== -1 && head === undefined) kept.splice(index, 1);
  if (index !== -1 && head !== undefined) {
    const inner = strip(fields[index].body, rest, field);
    kept[index] = inner.length === 0 ? EMPTY : messageField(head, inner);
  }
  return Buffer.concat(kept);
}

describe('setVarintField on wire bytes', () => {
  const cases: { name: string; before: string; path: number[]; value: bigint | number; after: string }[] = [
    { name: 'rewrites a value in place, growing', before: '0801 2005 1001', path: [], value: 300, after: '0801 20ac02 1001' },
    { name: 'rewrites a value in place, shrinking', before: '20ac02', path: [], value: 5, after: '2005' },
    { name: 'appends a missing field', before: '0801', path: [], value: 5, after: '0801 2005' },
    { name: 'rewrites only the last of several occurrences', before: '2001 0801 2002', path: [], value: 9, after: '2001 0801 2009' },
    { name: 'writes a negative value as ten bytes', before: '', path: [], value: -1, after: '20 ffffffffffffffffff01' },
    { name: 'writes int64 extremes', before: '', path: [], value: -(2n ** 63n), after: '20 80808080808080808001' },
    { name: 'creates the missing path', before: '', path: [2, 15, 1], value: 7, after: '12 06 7a04 0a02 2007' },
    { name: 'follows the last occurrence of a path field', before: '0a022001 0a022002', path: [1], value: 9, after: '0a022001 0a022009' },
    { name: 're-encodes a length that grows', before: '0a022005', path: [1], value: 300, after: '0a03 20ac02' },
    { name: 're-encodes a non-minimal length', before: '0a8200 2005', path: [1], value: 7, after: '0a02 2007' },
    { name: 'copies unknown fields and groups as they were', before: 'c33e 0801 c43e 2005 b83e07', path: [], value: 9, after: 'c33e 0801 c43e 2009 b83e07' },
    { name: 'reads a field number as large as protobuf allows', before: 'f8ffffff0f01', path: [], value: 1, after: 'f8ffffff0f01 2001' },
  ];
  for (const { name, before, path, value, after } of cases) {
    it(name, () => {
      assert.equal(setVarintField(hex(before), path, 4, value).toString('hex'), hex(after).toString('hex'));
    });
  }

  const errors: { name: string; before: string; path: number[]; field?: number; value?: bigint | number; error: RegExp }[] = [
    { name: 'a truncated varint', before: '0801 20', path: [], error: /malformed varint at byte 3/ },
    { name: 'a varint past 64 bits', before: '20 ffffffffffffffffff7f', path: [], error: /malformed varint at byte 1/ },
    { name: 'a length past the end', before: '0a05 2001', path: [1], error: /field 1 at byte 0 runs past the end/ },
    { name: 'a sibling inside the path message that runs past it', before: '0a02 0a05 2001', path: [1], error: /runs past the end/ },
    { name: 'a path field that is not length-delimited', before: '0801', path: [1], error: /field 1 at byte 0 has wire type 0, expected 2/ },
    { name: 'a leaf that is not a varint', before: '220100', path: [], error: /field 4 at byte 0 has wire type 2, expected 0/ },
    { name: 'an invalid wire type', before: '0f', path: [], error: /invalid wire type 7/ },
    { name: 'an end-group tag outside a group', before: '0c', path: [], error: /end-group tag outside a group/ },
    { name: 'a group never closed', before: '0b 0801', path: [], error: /has no end-group tag/ },
    { name: 'a group closed by another field', before: '0b 14', path: [], error: /group 1 closed by an end-group tag for field 2/ },
    { name: 'field number 0', before: '0001', path: [], error: /field number 0/ },
    { name: 'a value past int64', before: '', path: [], value: 2n ** 63n, error: /outside the int64 range/ },
    { name: 'an unsafe number', before: '', path: [], value: 2 ** 53, error: /not a safe integer/ },
    { name: 'an invalid field number', before: '', path: [0], error: /invalid field number 0/ },
    { name: 'a field number past 2^29 - 1', before: '', path: [], field: 2 ** 29, error: /invalid field number/ },
  ];
  for (const { name, before, path, field = 4, value = 1, error } of errors) {
    it(`refuses ${name}`, () => {
      assert.throws(() => setVarintField(hex(before), path, field, value), (thrown) => thrown instanceof RangeError && error.test(thrown.message));
    });
  }

  it('returns a copy and leaves its input alone', () => {
    const before = hex('0801 2005');
    const after = setVarintField(before, [], 4, 6);
    after.fill(0);
    assert.equal(before.toString('hex'), '08012005');
  });

  it('works on a view into a larger buffer', () => {
    const backing = hex('ff 2005 ff');
    assert.equal(setVarintField(backing.subarray(1, 3), [], 4, 6).toString('hex'), '2006');
  });
});

describe('setVarintField on CRI requests', () => {
  const target = (type: protobuf.Type, dottedPath: string) => ({ type, dottedPath, path: fieldNumbers(type, dottedPath) });
  const create = target(CreateContainerRequest, 'config.linux.resources');
  const linuxWithResources = (memory: number) => encode(LinuxContainerConfig, { resources: { memory_limit_in_bytes: memory } });
  const cases: { name: string; type: protobuf.Type; dottedPath: string; path: number[]; before: Buffer; value: bigint | number; expected: string }[] = [
    { name: 'rewrites the kubelet limit', ...create, before: encode(CreateContainerRequest, kubeletRequest), value: 2 ** 30, expected: '1073741824' },
    {
      name: 'shrinks the varint',
      ...create,
      before: encode(CreateContainerRequest, { config: { linux: { resources: { memory_limit_in_bytes: 2 ** 40, cpu_shares: 2 } } } }),
      value: 100,
      expected: '100',
    },
    {
      name: 'grows the varint',
      ...create,
      before: encode(CreateContainerRequest, { config: { linux: { resources: { memory_limit_in_bytes: 100, cpu_shares: 2 } } } }),
      value: 2n ** 62n,
      expected: String(2n ** 62n),
    },
    { name: 'writes a negative value', ...create, before: encode(CreateContainerRequest, kubeletRequest), value: -1, expected: '-1' },
    {
      name: 'inserts a missing limit',
      ...create,
      before: encode(CreateContainerRequest, { config: { linux: { resources: { cpu_shares: 2, oom_score_adj: 10 } } } }),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'inserts missing resources',
      ...create,
      before: encode(CreateContainerRequest, { config: { linux: { security_context: { privileged: true } } } }),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'inserts a missing linux message',
      ...create,
      before: encode(CreateContainerRequest, { pod_sandbox_id: 's', config: { metadata: { name: 'app' }, log_path: 'x' } }),
      value: 4096,
      expected: '4096',
    },
    { name: 'inserts a missing config', ...create, before: encode(CreateContainerRequest, { pod_sandbox_id: 's' }), value: 4096, expected: '4096' },
    { name: 'fills an empty request', ...create, before: Buffer.alloc(0), value: 4096, expected: '4096' },
    {
      name: 'rewrites the last of duplicate limits',
      ...create,
      before: messageField(2, messageField(15, messageField(1, varintField(MEMORY_LIMIT, 1), varintField(3, 2), varintField(MEMORY_LIMIT, 3)))),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'follows the last of duplicate linux and resources messages',
      ...create,
      before: messageField(2, messageField(15, linuxWithResources(1)), messageField(15, linuxWithResources(2), linuxWithResources(3))),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'inserts into the last of duplicate configs',
      ...create,
      before: Buffer.concat([encode(CreateContainerRequest, kubeletRequest), messageField(2, encode(ContainerConfig, { log_path: 'y' }))]),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'keeps unknown fields at every level',
      ...create,
      before: Buffer.concat([
        UNKNOWN,
        messageField(
          2,
          encode(ContainerConfig, { metadata: { name: 'app' } }),
          messageField(15, UNKNOWN, messageField(1, UNKNOWN, varintField(MEMORY_LIMIT, 7), UNKNOWN, varintField(999, 1)), UNKNOWN),
          UNKNOWN,
        ),
        UNKNOWN,
      ]),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'keeps unknown fields when inserting',
      ...create,
      before: Buffer.concat([UNKNOWN, messageField(2, UNKNOWN, messageField(15, UNKNOWN)), UNKNOWN]),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'edits UpdateContainerResources',
      ...target(UpdateContainerResourcesRequest, 'linux'),
      before: Buffer.concat([encode(UpdateContainerResourcesRequest, { container_id: 'c', linux: { memory_limit_in_bytes: 1, cpu_quota: 5 }, annotations: { a: 'b' } }), UNKNOWN]),
      value: 4096,
      expected: '4096',
    },
    {
      name: 'edits UpdatePodSandboxResources',
      ...target(UpdatePodSandboxResourcesRequest, 'resources'),
      before: encode(UpdatePodSandboxResourcesRequest, { pod_sandbox_id: 's', overhead: { memory_limit_in_bytes: 1 }, resources: { memory_limit_in_bytes: 9 } }),
      value: 4096,
      expected: '4096',
    },
  ];
  for (const { name, type, dottedPath, path, before, value, expected } of cases) {
    it(`${name}: decodes to the new value, every other byte unchanged`, () => {
      const after = setVarintField(before, path, MEMORY_LIMIT, value);
      assert.equal(memoryLimitOf(type, after, dottedPath), expected);
      assert.equal(strip(after, path, MEMORY_LIMIT).toString('hex'), strip(before, path, MEMORY_LIMIT).toString('hex'));
      assert.deepEqual(findAmbiguousEncoding(type, after), findAmbiguousEncoding(type, before));
    });
  }

  it('leaves the other decoded fields as they were', () => {
    const before = encode(CreateContainerRequest, kubeletRequest);
    const after = setVarintField(before, create.path, MEMORY_LIMIT, 1);
    const decoded = (bytes: Uint8Array) =>
      CreateContainerRequest.toObject(CreateContainerRequest.decode(bytes), { longs: String }) as { config: { linux: { resources: Record<string, unknown> } } };
    const [was, is] = [decoded(before), decoded(after)];
    assert.equal(is.config.linux.resources.memory_limit_in_bytes, '1');
    was.config.linux.resources.memory_limit_in_bytes = '1';
    assert.deepEqual(is, was);
  });
});

describe('fieldNumbers', () => {
  const cases: { type: protobuf.Type; path: string; expected: number[] }[] = [
    { type: CreateContainerRequest, path: 'config.linux.resources', expected: [2, 15, 1] },
    { type: CreateContainerRequest, path: 'config', expected: [2] },
    { type: UpdateContainerResourcesRequest, path: 'linux', expected: [2] },
    { type: UpdatePodSandboxResourcesRequest, path: 'overhead', expected: [2] },
    { type: UpdatePodSandboxResourcesRequest, path: 'resources', expected: [3] },
  ];
  for (const { type, path, expected } of cases) {
    it(`${type.name} ${path} → ${expected.join(', ')}`, () => assert.deepEqual(fieldNumbers(type, path), expected));
  }

  const errors: { path: string; error: RegExp }[] = [
    { path: 'config.nope', error: /runtime\.v1\.ContainerConfig has no field "nope"/ },
    { path: '', error: /has no field ""/ },
    { path: 'config.linux.resources.memory_limit_in_bytes', error: /memory_limit_in_bytes is not a singular message field/ },
    { path: 'config.mounts', error: /mounts is not a singular message field/ },
    { path: 'config.labels', error: /labels is not a singular message field/ },
    { path: 'configLinux', error: /has no field "configLinux"/ },
  ];
  for (const { path, error } of errors) {
    it(`refuses "${path}"`, () => assert.throws(() => fieldNumbers(CreateContainerRequest, path), error));
  }
});

describe('findAmbiguousEncoding: singular messages', () => {
  const kubelet = encode(CreateContainerRequest, kubeletRequest);
  const config = (...parts: Uint8Array[]) => messageField(2, ...parts);
  const linux = encode(LinuxContainerConfig, { resources: { memory_limit_in_bytes: 1 } });
  const mount = (...parts: Uint8Array[]) => messageField(7, encode(Mount, { container_path: '/m' }), ...parts);
  const image = messageField(9, encode(root.lookupType('runtime.v1.ImageSpec'), { image: 'busybox' }));
  const label = (key: string, value: string) => messageField(9, messageField(1, Buffer.from(key)), messageField(2, Buffer.from(value)));

  const cases: { name: string; bytes: Uint8Array; expected: string | undefined }[] = [
    { name: 'a kubelet-like request', bytes: kubelet, expected: undefined },
    { name: 'an empty request', bytes: EMPTY, expected: undefined },
    { name: 'config twice', bytes: Buffer.concat([kubelet, config(encode(ContainerConfig, { log_path: 'y' }))]), expected: 'config' },
    { name: 'config.linux twice', bytes: config(messageField(15, linux), varintField(14, 1), messageField(15, linux)), expected: 'config.linux' },
    { name: 'config.linux.resources twice', bytes: config(messageField(15, linux, linux)), expected: 'config.linux.resources' },
    { name: 'a message twice inside a repeated element', bytes: config(mount(), mount(image, image)), expected: 'config.mounts.image' },
    { name: 'repeated elements and repeated map keys', bytes: config(mount(image), mount(image), label('a', '1'), label('a', '2')), expected: undefined },
    { name: 'a duplicate after a map entry', bytes: config(label('a', '1'), messageField(15, linux), messageField(15, linux)), expected: 'config.linux' },
    { name: 'a duplicate after a nested message', bytes: config(mount(image), messageField(15, linux), messageField(15, linux)), expected: 'config.linux' },
    { name: 'a scalar twice', bytes: config(messageField(15, messageField(1, varintField(MEMORY_LIMIT, 1), varintField(MEMORY_LIMIT, 2)))), expected: undefined },
    {
      name: 'supplemental groups packed and not',
      bytes: config(messageField(15, messageField(2, varintField(8, 1), varintField(8, 2), messageField(8, hex('0304'))))),
      expected: undefined,
    },
    {
      name: 'unknown fields, even ones that look like duplicates',
      bytes: Buffer.concat([UNKNOWN, messageField(1000, config(linux), config(linux)), config(UNKNOWN, messageField(15, UNKNOWN, hex('c33e 7a00 7a00 c43e')))]),
      expected: undefined,
    },
    { name: 'an unknown field holding no valid message', bytes: config(messageField(1000, hex('ffff'))), expected: undefined },
    { name: 'the first duplicate in wire order', bytes: Buffer.concat([config(messageField(15, linux, linux)), config(linux)]), expected: 'config.linux.resources' },
  ];
  for (const { name, bytes, expected } of cases) {
    it(`${name} → ${expected ?? 'none'}`, () => assert.equal(findAmbiguousEncoding(CreateContainerRequest, bytes)?.path, expected));
  }

  it('says why', () => {
    assert.deepEqual(findAmbiguousEncoding(CreateContainerRequest, config(messageField(15, linux), messageField(15, linux))), {
      path: 'config.linux',
      reason: 'a singular message sent more than once',
    });
  });

  const errors: { name: string; bytes: Uint8Array; error: RegExp }[] = [
    { name: 'a message sent as a varint', bytes: config(varintField(15, 1)), error: /config\.linux at byte 2 has wire type 0, expected 2/ },
    { name: 'a string sent as a varint', bytes: varintField(1, 1), error: /pod_sandbox_id at byte 0 has wire type 0, expected 2/ },
    { name: 'a number sent length-delimited', bytes: config(messageField(15, messageField(1, messageField(MEMORY_LIMIT, hex('01'))))), error: /memory_limit_in_bytes .* wire type 2, expected 0/ },
    { name: 'a known field sent as a group', bytes: hex('13 14'), error: /config at byte 0 has wire type 3, expected 2/ },
    { name: 'a map key of the wrong wire type', bytes: config(messageField(9, varintField(1, 1))), error: /config\.labels key .* wire type 0, expected 2/ },
    { name: 'a truncated message', bytes: config(linux).subarray(0, 5), error: /runs past the end/ },
    { name: 'a malformed varint', bytes: hex('12 01 ff'), error: /malformed varint at byte 2/ },
  ];
  for (const { name, bytes, error } of errors) {
    it(`refuses ${name}`, () => {
      assert.throws(() => findAmbiguousEncoding(CreateContainerRequest, bytes), (thrown) => thrown instanceof RangeError && error.test(thrown.message));
    });
  }

  describe('on a recursive schema', () => {
    const tree = protobuf.parse('syntax = "proto3"; package test; message Node { Node single = 1; map<string, Node> children = 2; repeated Node list = 3; }', {
      keepCase: true,
    }).root;
    tree.resolveAll();
    const Node = tree.lookupType('test.Node');
    const nested = (depth: number): Buffer => (depth === 0 ? Buffer.alloc(0) : messageField(1, nested(depth - 1)));
    /** A `children` entry with each of `values` as a value field. */
    const entry = (...values: Uint8Array[]) => messageField(2, messageField(1, Buffer.from('k')), ...values.map((value) => messageField(2, value)));
    const singleTwice = Buffer.concat([messageField(1, EMPTY), messageField(1, EMPTY)]);

    const cases: { name: string; bytes: Uint8Array; expected: string | undefined }[] = [
      { name: '32 levels', bytes: nested(32), expected: undefined },
      { name: 'a map value twice in one entry', bytes: entry(EMPTY, EMPTY), expected: 'children' },
      { name: 'a duplicate inside a map value', bytes: entry(singleTwice), expected: 'children.single' },
      { name: 'a duplicate inside a map value inside a list', bytes: messageField(3, entry(singleTwice)), expected: 'list.children.single' },
      { name: 'one map value per entry', bytes: Buffer.concat([entry(nested(3)), entry(nested(3))]), expected: undefined },
    ];
    for (const { name, bytes, expected } of cases) {
      it(`${name} → ${expected ?? 'none'}`, () => assert.equal(findAmbiguousEncoding(Node, bytes)?.path, expected));
    }

    it('refuses nesting past 32 levels', () => {
      assert.throws(() => findAmbiguousEncoding(Node, nested(33)), (thrown) => thrown instanceof RangeError && /nest deeper than 32 levels/.test(thrown.message));
    });

    it('reads the next request afresh after one it refused midway', () => {
      assert.throws(() => findAmbiguousEncoding(Node, messageField(3, entry(hex('0a 05 00')))), RangeError);
      assert.equal(findAmbiguousEncoding(Node, messageField(3, messageField(3, entry(singleTwice))))?.path, 'list.list.children.single');
    });
  });

  it('finds a singular message sent twice among more such fields than fit a 31-bit mask', () => {
    const fields = Array.from({ length: 40 }, (_, index) => `Leaf f${index + 1} = ${index + 1};`).join(' ');
    const wide = protobuf.parse(`syntax = "proto3"; package test; message Leaf { int64 x = 1; } message Wide { ${fields} }`, { keepCase: true }).root;
    wide.resolveAll();
    const Wide = wide.lookupType('test.Wide');
    for (const number of [1, 31, 32, 40]) {
      const others = [2, 33].filter((other) => other !== number).map((other) => messageField(other, EMPTY));
      assert.equal(findAmbiguousEncoding(Wide, Buffer.concat([messageField(number, EMPTY), ...others])), undefined, `f${number} once`);
      assert.equal(findAmbiguousEncoding(Wide, Buffer.concat([messageField(number, EMPTY), ...others, messageField(number, EMPTY)]))?.path, `f${number}`, `f${number} twice`);
    }
  });
});

describe('findAmbiguousEncoding: varints protobufjs reads otherwise than Go', () => {
  type Decoded = {
    config: { linux: { security_context: { privileged: boolean; namespace_options: { network: number; pid: number } } } };
    sandbox_config: { port_mappings: { container_port: number; host_port: number }[] };
  };
  /** protobufjs's reading; unset fields read as their defaults, through the prototype. */
  const decode = (bytes: Uint8Array): Decoded => CreateContainerRequest.decode(bytes) as unknown as Decoded;
  /** A varint field written byte for byte. */
  const rawVarint = (number: number, bytes: string): Buffer => Buffer.concat([Buffer.from(protobuf.Writer.create().uint32(number * 8).finish()), hex(bytes)]);
  /** Go's reading of a varint: all of it, as a uint64, which the field's type then converts (bool: != 0; int32, enum: low 32 bits). */
  const goVarint = (text: string): bigint => [...hex(text)].reduceRight((value, byte) => (value << 7n) | BigInt(byte & 0x7f), 0n);
  const securityContext = (...parts: Uint8Array[]): Buffer => messageField(2, messageField(15, messageField(2, ...parts)));
  const namespaceOptions = (...parts: Uint8Array[]): Buffer => securityContext(messageField(3, ...parts));
  const portMapping = (...parts: Uint8Array[]): Buffer => messageField(3, messageField(5, ...parts));
  const find = (bytes: Uint8Array) => findAmbiguousEncoding(CreateContainerRequest, bytes);
  const PRIVILEGED = 'config.linux.security_context.privileged';
  const NETWORK = 'config.linux.security_context.namespace_options.network';
  const CONTAINER_PORT = 'sandbox_config.port_mappings.container_port';

  it('refuses a bool of 2^32: false to protobufjs, true to Go', () => {
    const bytes = securityContext(rawVarint(2, '80 80 80 80 10'));
    assert.equal(goVarint('80 80 80 80 10'), 2n ** 32n);
    assert.equal(decode(bytes).config.linux.security_context.privileged, false);
    assert.deepEqual(find(bytes), { path: PRIVILEGED, reason: 'a varint of 2^32 or more for a 32-bit field' });
  });

  it('refuses a 6-byte enum, after which protobufjs skips four bytes Go reads: here pid = NODE', () => {
    // network = POD in six bytes, then pid = NODE and ipc = POD.
    const inner = Buffer.concat([rawVarint(1, '80 80 80 80 80 00'), hex('10 02 18 00')]);
    const bytes = namespaceOptions(inner);
    assert.deepEqual(
      readFields(inner).map((field) => field.number),
      [1, 2, 3],
    );
    assert.equal(decode(bytes).config.linux.security_context.namespace_options.pid, 0);
    assert.deepEqual(find(bytes), { path: NETWORK, reason: 'a 6-byte varint for a 32-bit field' });
  });

  it('refuses a 6-byte int32, after which protobufjs skips four bytes Go reads: here host_port = 22', () => {
    const inner = Buffer.concat([rawVarint(2, '80 80 80 80 80 00'), hex('18 16 08 00')]);
    assert.deepEqual(
      readFields(inner).map((field) => field.number),
      [2, 3, 1],
    );
    const bytes = portMapping(inner);
    assert.equal(decode(bytes).sandbox_config.port_mappings[0].host_port, 0);
    assert.deepEqual(find(bytes), { path: CONTAINER_PORT, reason: 'a 6-byte varint for a 32-bit field' });
  });

  for (const length of [6, 7, 8, 9]) {
    it(`refuses a ${length}-byte bool`, () => {
      const bytes = securityContext(rawVarint(2, `${'80'.repeat(length - 1)}01`));
      assert.deepEqual(find(bytes), { path: PRIVILEGED, reason: `a ${length}-byte varint for a 32-bit field` });
    });
  }

  it('refuses a 10-byte bool: 2^63 is false to protobufjs, true to Go', () => {
    const varint = '80 80 80 80 80 80 80 80 80 01';
    const bytes = securityContext(rawVarint(2, varint));
    assert.equal(goVarint(varint), 2n ** 63n);
    assert.equal(decode(bytes).config.linux.security_context.privileged, false);
    assert.deepEqual(find(bytes), { path: PRIVILEGED, reason: 'a 10-byte varint for a 32-bit field' });
  });

  const NOT_SIGN_EXTENDED = 'a 10-byte varint for a 32-bit field that is not a negative 32-bit value sign-extended to 64 bits';
  // Both read the low 32 bits of these, so they agree; but no encoder writes them, and an int32 or enum
  // in ten bytes is accepted only as what encoders write, a negative value.
  const nonCanonical: { name: string; varint: string }[] = [
    { name: '2^63', varint: '80 80 80 80 80 80 80 80 80 01' },
    { name: '5 padded to ten bytes', varint: '85 80 80 80 80 80 80 80 80 00' },
    { name: '2^35 - 1, whose low 32 bits are -1 but whose bits 35 to 63 are clear', varint: 'ff ff ff ff ff 80 80 80 80 00' },
    { name: 'bits 32 to 63 set but not bit 31', varint: '80 80 80 80 f0 ff ff ff ff 01' },
  ];
  for (const { name, varint } of nonCanonical) {
    it(`refuses an enum and an int32 of ${name} in ten bytes`, () => {
      assert.deepEqual(find(namespaceOptions(rawVarint(1, varint))), { path: NETWORK, reason: NOT_SIGN_EXTENDED });
      assert.deepEqual(find(portMapping(rawVarint(2, varint))), { path: CONTAINER_PORT, reason: NOT_SIGN_EXTENDED });
    });
  }

  it('refuses a uint32 in ten bytes, even one that reads as a negative int32', () => {
    const bytes = messageField(2, messageField(1, rawVarint(2, 'ff ff ff ff ff ff ff ff ff 01')));
    assert.deepEqual(find(bytes), { path: 'config.metadata.attempt', reason: 'a 10-byte varint for a 32-bit field' });
  });

  it('accepts negative int32s and enums as encoders write them: sign-extended to ten bytes', () => {
    const int32 = (value: number): Buffer => Buffer.from(protobuf.Writer.create().int32(value).finish());
    assert.equal(int32(-1).length, 10);
    assert.equal(int32(-(2 ** 31)).toString('hex'), '80808080f8ffffffff01');
    const bytes = Buffer.concat([
      namespaceOptions(rawVarint(1, int32(-1).toString('hex')), rawVarint(2, int32(-(2 ** 31)).toString('hex'))),
      encode(CreateContainerRequest, { sandbox_config: { port_mappings: [{ container_port: -1, host_port: -(2 ** 31) }, { container_port: -123456 }] } }),
    ]);
    assert.equal(find(bytes), undefined);
    const decoded = decode(bytes);
    assert.deepEqual([decoded.config.linux.security_context.namespace_options.network, decoded.config.linux.security_context.namespace_options.pid], [-1, -(2 ** 31)]);
    assert.deepEqual(
      decoded.sandbox_config.port_mappings.map((port) => [port.container_port, port.host_port]),
      [
        [-1, -(2 ** 31)],
        [-123456, 0],
      ],
    );
  });

  it('accepts small values, up to 2^32 - 1 in five bytes', () => {
    const bytes = Buffer.concat([
      messageField(
        2,
        messageField(1, rawVarint(2, 'ff ff ff ff 0f')),
        messageField(15, messageField(2, rawVarint(2, '01'), rawVarint(7, '00'), rawVarint(11, '81 00'), messageField(3, rawVarint(1, '02'), rawVarint(2, 'ff ff ff ff 0f')))),
      ),
      portMapping(rawVarint(2, 'ff ff ff ff 07'), rawVarint(3, '80 80 80 80 00')),
    ]);
    assert.equal(find(bytes), undefined);
    const decoded = decode(bytes);
    assert.equal(decoded.config.linux.security_context.privileged, true);
    assert.equal(decoded.sandbox_config.port_mappings[0].container_port, 2 ** 31 - 1);
  });

  it('accepts a kubelet-like request, with every kind of varint field set', () => {
    const request = {
      ...kubeletRequest,
      config: {
        ...kubeletRequest.config,
        stdin: true,
        tty: true,
        linux: {
          resources: { ...kubeletRequest.config.linux.resources, oom_score_adj: -997 },
          security_context: {
            ...kubeletRequest.config.linux.security_context,
            privileged: true,
            readonly_rootfs: true,
            no_new_privs: true,
            namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' },
            supplemental_groups_policy: 'Strict',
          },
        },
      },
      sandbox_config: {
        ...kubeletRequest.sandbox_config,
        port_mappings: [{ protocol: 'UDP', container_port: 53, host_port: 5353 }, { container_port: 8080 }],
      },
    };
    const bytes = encode(CreateContainerRequest, request);
    assert.equal(find(bytes), undefined);
    assert.equal(findAmbiguousEncoding(root.lookupType('runtime.v1.PodSandboxConfig'), encode(root.lookupType('runtime.v1.PodSandboxConfig'), request.sandbox_config)), undefined);
  });

  it('leaves 64-bit integers to the varint reader, which refuses what Go does', () => {
    const resources = (...parts: Uint8Array[]) => messageField(2, messageField(15, messageField(1, ...parts)));
    assert.equal(find(resources(rawVarint(MEMORY_LIMIT, 'ff ff ff ff ff ff ff ff ff 01'))), undefined);
    assert.equal(find(resources(rawVarint(MEMORY_LIMIT, '80 80 80 80 80 00'))), undefined);
    assert.throws(() => find(resources(rawVarint(MEMORY_LIMIT, 'ff ff ff ff ff ff ff ff ff 02'))), /malformed varint/);
    assert.throws(() => find(resources(rawVarint(MEMORY_LIMIT, 'ff ff ff ff ff ff ff ff ff 80 00'))), /malformed varint/);
  });

  describe('in packed fields and maps', () => {
    const schema = protobuf.parse(
      `syntax = "proto3"; package test; enum Mode { A = 0; B = 1; C = 2; }
       message Lists {
         repeated Mode modes = 1; repeated int32 ints = 2; repeated sint32 zigzags = 3; repeated bool flags = 4;
         repeated int64 longs = 5; repeated fixed32 fixeds = 6; map<int32, Mode> by_number = 7; map<string, bool> by_name = 8;
       }`,
      { keepCase: true },
    ).root;
    schema.resolveAll();
    const Lists = schema.lookupType('test.Lists');
    const packed = (number: number, varints: string): Buffer => messageField(number, hex(varints));
    const entry = (number: number, ...parts: Uint8Array[]): Buffer => messageField(number, ...parts);
    type DecodedLists = { modes: number[]; flags: boolean[]; longs: unknown[] };
    const decodeLists = (bytes: Uint8Array): DecodedLists => Lists.decode(bytes) as unknown as DecodedLists;

    it('refuses a 6-byte element of a packed enum, after which protobufjs skips four elements Go reads', () => {
      const bytes = packed(1, '01 80 80 80 80 80 01 02 02 02 02');
      assert.deepEqual(decodeLists(bytes).modes, [1, 0]);
      assert.deepEqual(findAmbiguousEncoding(Lists, bytes), { path: 'modes', reason: 'a 6-byte varint for a 32-bit value in a packed field' });
    });

    it('refuses a packed bool of 2^32, false to protobufjs', () => {
      const bytes = packed(4, '01 80 80 80 80 10');
      assert.deepEqual(decodeLists(bytes).flags, [true, false]);
      assert.deepEqual(findAmbiguousEncoding(Lists, bytes), { path: 'flags', reason: 'a varint of 2^32 or more for a 32-bit value in a packed field' });
    });

    const cases: { name: string; bytes: Uint8Array; expected: { path: string; reason: string } | undefined }[] = [
      { name: 'packed enums, negative and not', bytes: packed(1, `00 01 02 ${'ff'.repeat(9)}01 80 80 80 80 f8 ff ff ff ff 01`), expected: undefined },
      { name: 'packed int32s up to 2^32 - 1', bytes: packed(2, '00 7f ff ff ff ff 0f'), expected: undefined },
      { name: 'an empty packed field', bytes: packed(3, ''), expected: undefined },
      { name: 'a packed sint32 of 2^32', bytes: packed(3, '01 80 80 80 80 10'), expected: { path: 'zigzags', reason: 'a varint of 2^32 or more for a 32-bit value in a packed field' } },
      {
        name: 'a packed int32 not sign-extended',
        bytes: packed(2, '80 80 80 80 80 80 80 80 80 01'),
        expected: { path: 'ints', reason: 'a 10-byte varint for a 32-bit value in a packed field that is not a negative 32-bit value sign-extended to 64 bits' },
      },
      { name: 'a bad enum outside a packed field', bytes: Buffer.concat([packed(1, '01'), rawVarint(1, '80 80 80 80 80 80 01')]), expected: { path: 'modes', reason: 'a 7-byte varint for a 32-bit field' } },
      { name: 'packed int64s of ten bytes', bytes: packed(5, `${'ff'.repeat(9)}01 ${'80'.repeat(9)}01 00`), expected: undefined },
      { name: 'packed fixed32s', bytes: packed(6, '01000000 ffffffff'), expected: undefined },
      { name: 'a map of 32-bit keys and enum values', bytes: entry(7, rawVarint(1, 'ff ff ff ff ff ff ff ff ff 01'), rawVarint(2, '02')), expected: undefined },
      { name: 'a map key in six bytes', bytes: entry(7, rawVarint(1, '80 80 80 80 80 01'), rawVarint(2, '02')), expected: { path: 'by_number', reason: 'a 6-byte varint for a 32-bit map key' } },
      { name: 'a map value of 2^32', bytes: entry(8, messageField(1, Buffer.from('k')), rawVarint(2, '80 80 80 80 10')), expected: { path: 'by_name', reason: 'a varint of 2^32 or more for a 32-bit map value' } },
    ];
    for (const { name, bytes, expected } of cases) {
      it(`${name} → ${expected?.path ?? 'none'}`, () => assert.deepEqual(findAmbiguousEncoding(Lists, bytes), expected));
    }

    const errors: { name: string; bytes: Uint8Array; error: RegExp }[] = [
      { name: 'a packed int64 past 64 bits, which protobufjs would truncate', bytes: packed(5, `${'ff'.repeat(9)}02`), error: /malformed varint at byte 2/ },
      { name: 'a packed int64 past ten bytes', bytes: packed(5, `${'ff'.repeat(10)}00`), error: /malformed varint at byte 2/ },
      { name: 'a packed varint cut off by the end of its field', bytes: Buffer.concat([packed(1, '01 80'), rawVarint(2, '00')]), error: /malformed varint at byte 3/ },
      { name: 'packed fixed32s of the wrong length', bytes: packed(6, '01000000 ffff'), error: /fixeds .* 6 bytes, not a whole number of 4-byte values/ },
    ];
    for (const { name, bytes, error } of errors) {
      it(`refuses ${name}`, () => {
        assert.throws(() => findAmbiguousEncoding(Lists, bytes), (thrown) => thrown instanceof RangeError && error.test(thrown.message));
      });
    }

    it('shows why: protobufjs reads a packed int64 past 64 bits where Go refuses it', () => {
      assert.doesNotThrow(() => decodeLists(packed(5, `${'ff'.repeat(9)}02`)));
    });
  });
});
