import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { compileImagePattern, type ImagePattern } from '../../src/policy/images/image-pattern.js';
import { cachingReferenceParser, parseImageReference, type ImageName } from '../../src/policy/images/image-reference.js';
import { imagesRule, imagesRuleSchema } from '../../src/policy/rules/images-rule.js';
import type { ImageSubject, PolicySubject } from '../../src/policy/types.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`;
const ID_HEX = '0123456789abcdef'.repeat(4);

function imageName(reference: string): ImageName {
  const parsed = parseImageReference(reference);
  assert.equal(parsed.kind, 'name', `${reference}: ${parsed.kind === 'invalid' ? parsed.reason : parsed.kind}`);
  return parsed;
}

function pattern(source: string): ImagePattern {
  const compiled = compileImagePattern(source);
  assert.ok(compiled.ok, compiled.ok ? source : compiled.reason);
  return compiled.pattern;
}

describe('parseImageReference', () => {
  const names: { reference: string; registry: string; repository: string; tag?: string; digest?: string; name: string }[] = [
    { reference: 'nginx', registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' },
    { reference: 'nginx:1.25', registry: 'docker.io', repository: 'library/nginx', tag: '1.25', name: 'docker.io/library/nginx:1.25' },
    { reference: 'nginx:latest', registry: 'docker.io', repository: 'library/nginx', tag: 'latest', name: 'docker.io/library/nginx:latest' },
    { reference: 'bitnami/redis:7', registry: 'docker.io', repository: 'bitnami/redis', tag: '7', name: 'docker.io/bitnami/redis:7' },
    { reference: 'docker.io/nginx', registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' },
    { reference: 'index.docker.io/library/nginx', registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' },
    { reference: 'registry.k8s.io/pause:3.9', registry: 'registry.k8s.io', repository: 'pause', tag: '3.9', name: 'registry.k8s.io/pause:3.9' },
    { reference: 'localhost/app', registry: 'localhost', repository: 'app', name: 'localhost/app' },
    { reference: 'localhost:5000/app:v1', registry: 'localhost:5000', repository: 'app', tag: 'v1', name: 'localhost:5000/app:v1' },
    { reference: 'myregistry:5000/team/app', registry: 'myregistry:5000', repository: 'team/app', name: 'myregistry:5000/team/app' },
    { reference: '[::1]:5000/app:V1_x', registry: '[::1]:5000', repository: 'app', tag: 'V1_x', name: '[::1]:5000/app:V1_x' },
    { reference: 'Registry.Example.COM/app', registry: 'registry.example.com', repository: 'app', name: 'registry.example.com/app' },
    { reference: 'Foo/bar', registry: 'foo', repository: 'bar', name: 'foo/bar' },
    { reference: 'quay.io/a__b/c-d--e/f.g_h', registry: 'quay.io', repository: 'a__b/c-d--e/f.g_h', name: 'quay.io/a__b/c-d--e/f.g_h' },
    // As in Docker: only a whole 64-digit id is an id; anything shorter is a repository named "sha256".
    { reference: 'sha256:0123abcd', registry: 'docker.io', repository: 'library/sha256', tag: '0123abcd', name: 'docker.io/library/sha256:0123abcd' },
    { reference: `nginx@${DIGEST}`, registry: 'docker.io', repository: 'library/nginx', digest: DIGEST, name: `docker.io/library/nginx@${DIGEST}` },
    {
      reference: `ghcr.io/org/team/app:v1@${DIGEST}`,
      registry: 'ghcr.io',
      repository: 'org/team/app',
      tag: 'v1',
      digest: DIGEST,
      name: `ghcr.io/org/team/app:v1@${DIGEST}`,
    },
  ];
  for (const { reference, ...expected } of names) {
    it(`normalises ${reference}`, () => {
      assert.deepEqual(parseImageReference(reference), { kind: 'name', tag: undefined, digest: undefined, ...expected });
    });
  }

  const ids = [`sha256:${ID_HEX}`, ID_HEX];
  for (const reference of ids) {
    it(`recognises the image id ${reference.slice(0, 12)}…`, () => {
      assert.deepEqual(parseImageReference(reference), { kind: 'id', id: `sha256:${ID_HEX}` });
    });
  }

  const invalid: { reference: string; reason: RegExp }[] = [
    { reference: 'Nginx', reason: /repository "library\/Nginx" must be lower case/ },
    { reference: 'docker.io/Library/nginx', reason: /must be lower case/ },
    { reference: '', reason: /has no repository/ },
    { reference: `@${DIGEST}`, reason: /has no repository/ },
    { reference: 'quay.io//app', reason: /empty path component/ },
    { reference: 'quay.io/app/', reason: /empty path component/ },
    { reference: '/app', reason: /empty path component/ },
    { reference: 'quay.io/-app', reason: /path component "-app"/ },
    { reference: 'quay.io/a_-b', reason: /path component "a_-b"/ },
    { reference: 'nginx:', reason: /tag "" is not valid/ },
    { reference: 'nginx:-x', reason: /tag "-x" is not valid/ },
    { reference: `nginx:${'t'.repeat(129)}`, reason: /is not valid/ },
    { reference: 'nginx@sha256:abc', reason: /digest "sha256:abc" is not sha256:<64/ },
    { reference: `nginx@sha256:${'A'.repeat(64)}`, reason: /is not sha256:<64 lower-case hex/ },
    { reference: `nginx@md5:${'a'.repeat(32)}`, reason: /digest "md5:/ },
    { reference: `nginx@${DIGEST}@${DIGEST}`, reason: /more than one "@"/ },
    { reference: 'bad_host.io/app', reason: /registry "bad_host.io" is not a valid host\[:port\]/ },
    { reference: 'quay.io:port/app', reason: /registry "quay.io:port"/ },
    { reference: `quay.io/${'a'.repeat(250)}`, reason: /longer than 255 characters/ },
  ];
  for (const { reference, reason } of invalid) {
    it(`refuses ${JSON.stringify(reference.length > 40 ? `${reference.slice(0, 40)}…` : reference)} with a reason`, () => {
      const parsed = parseImageReference(reference);
      assert.equal(parsed.kind, 'invalid');
      assert.match(parsed.reason, reason);
    });
  }

  it('remembers recent answers, up to its capacity', () => {
    const parse = cachingReferenceParser(2);
    const nginx = parse('nginx');
    assert.equal(parse('nginx'), nginx);
    parse('redis');
    parse('busybox');
    const again = parse('nginx');
    assert.notEqual(again, nginx, 'the oldest answer was dropped');
    assert.deepEqual(again, nginx);
  });
});

describe('compileImagePattern', () => {
  const cases: { source: string; matches: string[]; misses: string[] }[] = [
    { source: '**', matches: ['nginx', `nginx@${DIGEST}`, 'localhost:5000/a/b/c:v1'], misses: [] },
    {
      source: 'docker.io/library/*',
      matches: ['nginx', 'nginx:1.25', `nginx@${DIGEST}`, 'index.docker.io/library/redis'],
      misses: ['bitnami/redis', 'docker.io/library/a/b', 'quay.io/library/nginx'],
    },
    { source: 'docker.io/**', matches: ['nginx', 'bitnami/redis:7', 'docker.io/a/b/c'], misses: ['quay.io/bitnami/redis', 'localhost/nginx'] },
    {
      source: '*.example.com/**',
      matches: ['registry.example.com/app', 'a.example.com/x/y:v1'],
      misses: ['example.com/app', 'registry.example.com.evil.io/app', 'evil.io/registry.example.com/app'],
    },
    {
      source: 'registry.example.com/app:v1.*',
      matches: ['registry.example.com/app:v1.2', 'registry.example.com/app:v1.2.3'],
      misses: [
        'registry.example.com/app:v2.0',
        'registry.example.com/app',
        `registry.example.com/app@${DIGEST}`,
        'registry.example.com/other:v1.2',
        // containerd pulls these by the digest and ignores the tag, which may name any other image.
        `registry.example.com/app:v1.0@${DIGEST}`,
        `registry.example.com/app:v1.2.3@${OTHER_DIGEST}`,
      ],
    },
    {
      source: 'registry.example.com/app',
      matches: ['registry.example.com/app', 'registry.example.com/app:v9', `registry.example.com/app@${DIGEST}`, `registry.example.com/app:v9@${DIGEST}`],
      misses: ['registry.example.com/app/sub', 'registry.example.com/apple'],
    },
    { source: 'registry.example.com/team/*/app', matches: ['registry.example.com/team/x/app'], misses: ['registry.example.com/team/x/y/app', 'registry.example.com/team/app'] },
    { source: 'registry.example.com/team/**/app', matches: ['registry.example.com/team/x/app', 'registry.example.com/team/x/y/app'], misses: ['registry.example.com/team/x/apps'] },
    { source: 'localhost:5000/**', matches: ['localhost:5000/app:v1'], misses: ['localhost/app', 'localhost:5001/app'] },
    { source: '*/**:latest', matches: ['nginx', 'nginx:latest', 'quay.io/a/b:latest'], misses: ['nginx:1.25', `nginx@${DIGEST}`, `nginx:latest@${DIGEST}`] },
    { source: 'registry.example.com/app:*', matches: ['registry.example.com/app', 'registry.example.com/app:v1'], misses: [`registry.example.com/app:v1@${DIGEST}`] },
    { source: 'Registry.Example.com/app', matches: ['registry.example.com/app'], misses: [] },
    { source: 'index.docker.io/library/nginx', matches: ['nginx', 'docker.io/library/nginx:1'], misses: ['redis'] },
    { source: '{docker.io,quay.io}/team/*', matches: ['team/app', 'quay.io/team/app'], misses: ['ghcr.io/team/app'] },
    { source: '**/nginx', matches: ['nginx', 'quay.io/nginx'], misses: ['quay.io/nginx/nginx-exporter'] },
  ];
  for (const { source, matches, misses } of cases) {
    it(`matches ${source}`, () => {
      const compiled = pattern(source);
      assert.equal(compiled.source, source);
      for (const reference of matches) assert.ok(compiled.matches(imageName(reference)), `${source} should match ${reference}`);
      for (const reference of misses) assert.ok(!compiled.matches(imageName(reference)), `${source} should not match ${reference}`);
    });
  }

  const rejected: { source: string; reason: RegExp }[] = [
    { source: 'nginx', reason: /^pattern "nginx" has no registry: write it fully qualified, e.g. "docker.io\/library\/nginx"/ },
    { source: '', reason: /has no registry/ },
    { source: 'library/nginx', reason: /does not start with a registry: write it fully qualified, e.g. "docker.io\/library\/nginx"/ },
    { source: 'docker.io/nginx', reason: /has no Docker Hub namespace: official images are "docker.io\/library\/nginx"/ },
    { source: 'docker.io/*', reason: /has no Docker Hub namespace/ },
    { source: 'registry.example.com/App', reason: /upper case in its repository/ },
    { source: 'registry.example.com/app:', reason: /empty tag/ },
    { source: 'registry.example.com//app', reason: /empty path segment/ },
    { source: '/app', reason: /empty path segment/ },
    { source: 'registry.example.com/', reason: /empty path segment/ },
    { source: `registry.example.com/app@${DIGEST}`, reason: /names a digest/ },
    { source: '!docker.io/**', reason: /is negated/ },
    { source: 'docker.io/library/ nginx', reason: /white space/ },
  ];
  for (const { source, reason } of rejected) {
    it(`refuses ${JSON.stringify(source)} with a reason`, () => {
      const compiled = compileImagePattern(source);
      assert.ok(!compiled.ok);
      assert.match(compiled.reason, reason);
    });
  }
});

describe('imagesRule', () => {
  const POD = { namespace: 'default', name: 'web', uid: 'uid-1', labels: {} };

  function judge(settings: z.input<typeof imagesRuleSchema>, image: ImageSubject | undefined): { check: string; reason: string }[] {
    const subject: PolicySubject = { method: 'CreateContainer', request: {}, pod: POD, ...(image === undefined ? {} : { image }) };
    return imagesRule(imagesRuleSchema.parse(settings))
      .evaluate(subject)
      .map(({ check, reason, action }) => {
        assert.equal(action, 'deny');
        return { check, reason };
      });
  }

  /** An image given by name, as kubelet usually does. */
  function named(reference: string): ImageSubject {
    return { given: reference, names: [reference] };
  }

  /** An image given by id, resolved to the runtime's repo tags and repo digests. */
  function byId(...names: string[]): ImageSubject {
    return { given: `sha256:${ID_HEX}`, names };
  }

  it('judges PullImage and CreateContainer', () => {
    assert.deepEqual([...imagesRule({ denyLatest: true }).methods].sort(), ['CreateContainer', 'PullImage']);
  });

  const cases: { name: string; settings: z.input<typeof imagesRuleSchema>; image: ImageSubject | undefined; expect: { check: string; reason: string }[] }[] = [
    { name: 'has nothing to say without an image', settings: { denyLatest: true, allowed: ['quay.io/**'] }, image: undefined, expect: [] },
    {
      name: 'reports an unresolved image id, and nothing else',
      settings: { allowed: ['quay.io/**'], requireDigest: true, denyLatest: true },
      image: { given: `sha256:${ID_HEX}`, names: [], unresolved: 'the runtime has no such image' },
      expect: [{ check: 'resolve', reason: `image "sha256:${ID_HEX}" could not be resolved to a name: the runtime has no such image` }],
    },
    {
      name: 'reports a name that does not parse',
      settings: { allowed: ['quay.io/**'] },
      image: named('Nginx'),
      expect: [{ check: 'resolve', reason: 'image "Nginx" is not a valid reference: repository "library/Nginx" must be lower case' }],
    },
    {
      name: 'reports names that are image ids',
      settings: { denyLatest: true },
      image: byId(`sha256:${ID_HEX}`),
      expect: [{ check: 'resolve', reason: `image "sha256:${ID_HEX}" is not a valid reference: it is an image id, not a name` }],
    },
    {
      name: 'reports an image with no names and no explanation',
      settings: { denyLatest: true },
      image: byId(),
      expect: [{ check: 'resolve', reason: `image "sha256:${ID_HEX}" could not be resolved to a name: no names were given` }],
    },
    {
      name: 'skips a name that does not parse when another does',
      settings: { allowed: ['quay.io/**'] },
      image: byId('BAD', 'quay.io/team/app:v1'),
      expect: [],
    },
    {
      name: 'refuses an image outside the allowed patterns',
      settings: { allowed: ['registry.example.com/**', 'docker.io/bitnami/*'] },
      image: named('nginx:latest'),
      expect: [{ check: 'allowed', reason: 'image "docker.io/library/nginx:latest" is not in an allowed registry or repository' }],
    },
    { name: 'accepts an image inside the allowed patterns', settings: { allowed: ['registry.example.com/**', 'docker.io/bitnami/*'] }, image: named('bitnami/redis:7'), expect: [] },
    {
      name: 'allows an image id when any of its names is allowed',
      settings: { allowed: ['registry.example.com/**'] },
      image: byId('docker.io/library/app:v1', `registry.example.com/app@${DIGEST}`),
      expect: [],
    },
    {
      name: 'quotes the first name of an image id none of whose names is allowed',
      settings: { allowed: ['registry.example.com/**'] },
      image: byId('quay.io/app:v1', `quay.io/app@${DIGEST}`),
      expect: [{ check: 'allowed', reason: 'image "quay.io/app:v1" is not in an allowed registry or repository' }],
    },
    {
      name: 'refuses an image matching a denied pattern',
      settings: { denied: ['docker.io/library/*'] },
      image: named('nginx:1.25'),
      expect: [{ check: 'denied', reason: 'image "docker.io/library/nginx:1.25" matches denied pattern "docker.io/library/*"' }],
    },
    {
      name: 'refuses an image id if any of its names is denied, quoting that name',
      settings: { allowed: ['**'], denied: ['quay.io/bad/**', 'docker.io/library/*'] },
      image: byId('registry.example.com/app:v1', 'docker.io/library/app:v1'),
      expect: [{ check: 'denied', reason: 'image "docker.io/library/app:v1" matches denied pattern "docker.io/library/*"' }],
    },
    { name: 'lets through what no denied pattern matches', settings: { denied: ['docker.io/library/*'] }, image: named('bitnami/redis'), expect: [] },
    {
      name: 'refuses a tag and digest under a tag pattern, since the runtime pulls the digest whatever the tag',
      settings: { allowed: ['registry.example.com/app:v1.*'] },
      image: named(`registry.example.com/app:v1.2@${DIGEST}`),
      expect: [{ check: 'allowed', reason: `image "registry.example.com/app:v1.2@${DIGEST}" is not in an allowed registry or repository` }],
    },
    {
      name: 'allows a tag and digest under a pattern without a tag',
      settings: { allowed: ['registry.example.com/app'] },
      image: named(`registry.example.com/app:v1.2@${DIGEST}`),
      expect: [],
    },
    {
      name: 'lets a tag and digest past a denied tag pattern, as a digest alone',
      settings: { denied: ['registry.example.com/app:v1.*'] },
      image: named(`registry.example.com/app:v1.2@${DIGEST}`),
      expect: [],
    },
    {
      name: 'refuses an image not pinned by digest',
      settings: { requireDigest: true },
      image: named('quay.io/app:v1'),
      expect: [{ check: 'digest', reason: 'image "quay.io/app:v1" is not pinned by digest (@sha256:…)' }],
    },
    { name: 'accepts an image pinned by digest', settings: { requireDigest: true }, image: named(`quay.io/app:v1@${DIGEST}`), expect: [] },
    { name: 'accepts an image id with a repo digest', settings: { requireDigest: true }, image: byId('quay.io/app:v1', `quay.io/app@${DIGEST}`), expect: [] },
    {
      name: 'refuses the latest tag',
      settings: { denyLatest: true },
      image: named('nginx:latest'),
      expect: [{ check: 'latest', reason: 'image "docker.io/library/nginx:latest" uses the "latest" tag' }],
    },
    {
      name: 'refuses an untagged image without a digest',
      settings: { denyLatest: true },
      image: named('nginx'),
      expect: [{ check: 'latest', reason: 'image "docker.io/library/nginx" has no tag, so it means "latest"' }],
    },
    { name: 'accepts another tag', settings: { denyLatest: true }, image: named('nginx:1.25'), expect: [] },
    { name: 'accepts a digest without a tag', settings: { denyLatest: true }, image: named(`nginx@${DIGEST}`), expect: [] },
    { name: 'accepts latest pinned by digest', settings: { denyLatest: true }, image: named(`nginx:latest@${DIGEST}`), expect: [] },
    { name: 'accepts an image id whose latest tag has a repo digest', settings: { denyLatest: true }, image: byId('nginx:latest', `nginx@${OTHER_DIGEST}`), expect: [] },
    {
      name: 'reports every check that fails, in order',
      settings: { allowed: ['quay.io/**'], denied: ['docker.io/**'], requireDigest: true, denyLatest: true },
      image: named('nginx'),
      expect: [
        { check: 'allowed', reason: 'image "docker.io/library/nginx" is not in an allowed registry or repository' },
        { check: 'denied', reason: 'image "docker.io/library/nginx" matches denied pattern "docker.io/**"' },
        { check: 'digest', reason: 'image "docker.io/library/nginx" is not pinned by digest (@sha256:…)' },
        { check: 'latest', reason: 'image "docker.io/library/nginx" has no tag, so it means "latest"' },
      ],
    },
  ];
  for (const { name, settings, image, expect } of cases) {
    it(name, () => {
      assert.deepEqual(judge(settings, image), expect);
    });
  }
});

describe('imagesRuleSchema', () => {
  it('compiles patterns while the policy is read', () => {
    const settings = imagesRuleSchema.parse({ allowed: ['docker.io/**'], denied: ['docker.io/library/*:latest'], requireDigest: false, denyLatest: true });
    assert.equal(settings.allowed?.[0]?.source, 'docker.io/**');
    assert.ok(settings.denied?.[0]?.matches(imageName('nginx')));
  });

  /** As the policy file's schema will use it: the shared fields merged in through `.shape`. */
  const policySchema = z.object({ rules: z.array(z.object({ kind: z.literal('images'), ...imagesRuleSchema.shape }).strict()) });

  const invalid: { name: string; rule: Record<string, unknown>; path: (string | number)[]; message: RegExp }[] = [
    { name: 'a bad allowed pattern', rule: { allowed: ['docker.io/**', 'nginx'] }, path: ['rules', 0, 'allowed', 1], message: /pattern "nginx" has no registry/ },
    { name: 'a bad denied pattern', rule: { denied: ['docker.io/nginx'] }, path: ['rules', 0, 'denied', 0], message: /official images are "docker.io\/library\/nginx"/ },
    { name: 'a pattern that is not a string', rule: { allowed: [42] }, path: ['rules', 0, 'allowed', 0], message: /expected string/ },
    { name: 'a flag that is not a boolean', rule: { requireDigest: 'yes' }, path: ['rules', 0, 'requireDigest'], message: /expected boolean/ },
    { name: 'an unknown key', rule: { allow: ['docker.io/**'] }, path: ['rules', 0], message: /Unrecognized key: "allow"/ },
  ];
  for (const { name, rule, path, message } of invalid) {
    it(`reports ${name} at its path`, () => {
      const result = policySchema.safeParse({ rules: [{ kind: 'images', ...rule }] });
      assert.ok(!result.success);
      assert.equal(result.error.issues.length, 1, JSON.stringify(result.error.issues));
      const [issue] = result.error.issues;
      assert.deepEqual(issue?.path, path);
      assert.match(issue?.message ?? '', message);
    });
  }
});
