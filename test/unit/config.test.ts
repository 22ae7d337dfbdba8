import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { canonicalSocketPath, sameSocket } from '../../src/config/endpoint.js';
import { loadConfig, type ConfigOverrides } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-config-')), 'criscope.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('fills in defaults when there is neither file nor flag', () => {
    const config = loadConfig(undefined);
    assert.equal(config.listen, 'unix:///run/criscope/criscope.sock');
    assert.equal(config.runtimeEndpoint, undefined);
    assert.equal(config.socketMode, 0o660);
    assert.equal(config.httpListen, '127.0.0.1:9810');
    assert.equal(config.maxMessageBytes, 16 * 1024 * 1024);
    assert.equal(config.maxKeptBytesPerConnection, 32 * 1024 * 1024);
    assert.equal(config.log.level, 'info');
    assert.ok(Object.isFrozen(config));
  });

  const valid: { name: string; file: string; flags?: ConfigOverrides; expect: Record<string, unknown> }[] = [
    {
      name: 'reads every setting from the file',
      file: 'listen: unix:///run/x/criscope.sock\nruntimeEndpoint: unix:///run/containerd/containerd.sock\nimageEndpoint: unix:///run/img.sock\nsocketMode: "0600"\nhttpListen: "[::1]:9000"\nmaxMessageBytes: 33554432\nshutdownGraceSeconds: 3\nlog:\n  level: debug\n',
      expect: { listen: 'unix:///run/x/criscope.sock', imageEndpoint: 'unix:///run/img.sock', socketMode: 0o600, httpListen: '[::1]:9000', maxMessageBytes: 32 * 1024 * 1024, shutdownGraceSeconds: 3 },
    },
    {
      name: 'lets flags override the file',
      file: 'runtimeEndpoint: unix:///run/a.sock\nlog:\n  level: warn\n',
      flags: { runtimeEndpoint: 'unix:///run/b.sock', logLevel: 'debug' },
      expect: { runtimeEndpoint: 'unix:///run/b.sock' },
    },
    { name: 'accepts an empty file', file: '', expect: { listen: 'unix:///run/criscope/criscope.sock' } },
    {
      name: 'keeps at least one largest message per connection when maxKeptBytesPerConnection is left out',
      file: 'maxMessageBytes: 67108864\n',
      expect: { maxKeptBytesPerConnection: 64 * 1024 * 1024 },
    },
    {
      name: 'takes maxKeptBytesPerConnection from the file, and from its flag over the file',
      file: 'maxMessageBytes: 4194304\nmaxKeptBytesPerConnection: 8388608\n',
      flags: { maxKeptBytesPerConnection: 4 * 1024 * 1024 },
      expect: { maxMessageBytes: 4 * 1024 * 1024, maxKeptBytesPerConnection: 4 * 1024 * 1024 },
    },
    { name: 'accepts the unix:/path form', file: 'runtimeEndpoint: unix:/run/crio/crio.sock\n', expect: { runtimeEndpoint: 'unix:/run/crio/crio.sock' } },
    {
      name: 'accepts a socket named like criscope\'s in another directory',
      file: 'runtimeEndpoint: unix:///run/other/criscope.sock\nimageEndpoint: unix:///run/other/criscope-image.sock\n',
      expect: { runtimeEndpoint: 'unix:///run/other/criscope.sock' },
    },
  ];
  for (const { name, file, flags, expect } of valid) {
    it(name, () => {
      const config = loadConfig(configFile(file), flags);
      for (const [key, value] of Object.entries(expect)) assert.deepEqual(config[key as keyof typeof config], value, key);
    });
  }

  it('applies a --log-level flag over the file', () => {
    assert.equal(loadConfig(configFile('log:\n  level: warn\n'), { logLevel: 'debug' }).log.level, 'debug');
  });

  const invalid: { name: string; file?: string; flags?: ConfigOverrides; source: RegExp; messages: RegExp[] }[] = [
    { name: 'a TCP listen address', file: 'listen: tcp://0.0.0.0:10000\n', source: /criscope\.yaml$/, messages: [/listen: must be a unix socket endpoint/] },
    { name: 'an unknown key', file: 'runtime_endpoint: unix:///x.sock\n', source: /criscope\.yaml$/, messages: [/\(root\): Unrecognized key: "runtime_endpoint"/] },
    { name: 'a wrong type', file: 'maxMessageBytes: lots\n', source: /criscope\.yaml$/, messages: [/maxMessageBytes: .*expected number/] },
    { name: 'a too small message limit', file: 'maxMessageBytes: 1024\n', source: /criscope\.yaml$/, messages: [/maxMessageBytes: must be at least 4 MiB/] },
    {
      name: 'a kept-bytes limit below maxMessageBytes',
      file: 'maxKeptBytesPerConnection: 8388608\n',
      source: /criscope\.yaml$/,
      messages: [/maxKeptBytesPerConnection: must be at least maxMessageBytes \(16777216\)/],
    },
    {
      name: 'a --max-message-bytes flag above the kept-bytes limit in the file',
      file: 'maxKeptBytesPerConnection: 16777216\n',
      flags: { maxMessageBytes: 32 * 1024 * 1024 },
      source: /^command-line flags$/,
      messages: [/maxKeptBytesPerConnection: must be at least maxMessageBytes \(33554432\)/],
    },
    { name: 'a bad log level', file: 'log:\n  level: loud\n', source: /criscope\.yaml$/, messages: [/log\.level: /] },
    { name: 'a bad socket mode', file: 'socketMode: "0999"\n', source: /criscope\.yaml$/, messages: [/socketMode: /] },
    { name: 'broken YAML', file: 'listen: [unclosed\n', source: /criscope\.yaml$/, messages: [/not valid YAML/] },
    { name: 'a YAML list instead of a mapping', file: '- a\n- b\n', source: /criscope\.yaml$/, messages: [/must be a YAML mapping/] },
    {
      name: 'a runtime endpoint that is criscope\'s own socket',
      file: 'listen: unix:///run/criscope/criscope.sock\nruntimeEndpoint: unix:/run/criscope/criscope.sock\n',
      source: /criscope\.yaml$/,
      messages: [/runtimeEndpoint: is criscope's own listen socket/],
    },
    {
      name: "criscope's own socket written through /var/run",
      file: 'runtimeEndpoint: unix:///var/run/criscope/criscope.sock\n',
      source: /criscope\.yaml$/,
      messages: [/runtimeEndpoint: is criscope's own listen socket/],
    },
    {
      name: "criscope's own socket written with a doubled slash",
      file: 'runtimeEndpoint: unix:///run/criscope//criscope.sock\n',
      source: /criscope\.yaml$/,
      messages: [/runtimeEndpoint: is criscope's own listen socket/],
    },
    {
      name: "an image endpoint that is criscope's default image socket (imageListen left out)",
      file: 'imageEndpoint: unix:///run/criscope/criscope-image.sock\n',
      source: /criscope\.yaml$/,
      messages: [/imageEndpoint: is criscope's own image socket \(criscope-image.sock beside listen/],
    },
    {
      name: "a runtime endpoint that is criscope's imageListen, spelled otherwise",
      file: 'imageListen: unix:///run/x/img.sock\nimageEndpoint: unix:///run/image.sock\nruntimeEndpoint: /var/run/x/./img.sock\n',
      source: /criscope\.yaml$/,
      messages: [/runtimeEndpoint: is criscope's own image socket \(imageListen\)/],
    },
    { name: 'a bad flag', flags: { httpListen: 'nowhere' }, source: /^command-line flags$/, messages: [/httpListen: must be host:port/] },
  ];
  for (const { name, file, flags, source, messages } of invalid) {
    it(`refuses ${name}, naming the source, field and reason`, () => {
      const path = file === undefined ? undefined : configFile(file);
      assert.throws(
        () => loadConfig(path, flags),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.source, source);
          for (const message of messages) assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('accepts the example config shipped in config/', () => {
    const example = fileURLToPath(new URL('../../../config/criscope.yaml', import.meta.url));
    const config = loadConfig(example);
    assert.equal(config.listen, 'unix:///run/criscope/criscope.sock');
    assert.equal(config.runtimeEndpoint, 'unix:///run/containerd/containerd.sock');
    assert.equal(config.socketMode, 0o660);
  });

  it('refuses a file that cannot be read', () => {
    assert.throws(() => loadConfig('/nonexistent/criscope.yaml'), /invalid config in \/nonexistent\/criscope\.yaml: \(root\): cannot read file: ENOENT/);
  });
});

describe('canonicalSocketPath: one spelling for one socket', () => {
  const cases: readonly [string, string | undefined][] = [
    ['unix:///run/containerd/containerd.sock', '/run/containerd/containerd.sock'],
    ['unix:///var/run/containerd/containerd.sock', '/run/containerd/containerd.sock'],
    ['unix:/var/run/crio/crio.sock', '/run/crio/crio.sock'],
    ['/run/criscope//criscope.sock', '/run/criscope/criscope.sock'],
    ['unix:///run/./criscope/../criscope/criscope.sock', '/run/criscope/criscope.sock'],
    ['unix:///var/runner/x.sock', '/var/runner/x.sock'],
    ['tcp://127.0.0.1:1234', undefined],
  ];
  for (const [endpoint, path] of cases) it(`${endpoint} → ${String(path)}`, () => assert.equal(canonicalSocketPath(endpoint), path));

  it('sameSocket compares those spellings, and anything else as written', () => {
    assert.ok(sameSocket('unix:///var/run/criscope/criscope.sock', '/run/criscope//criscope.sock'));
    assert.ok(!sameSocket('unix:///run/a.sock', 'unix:///run/b.sock'));
    assert.ok(sameSocket('npipe:x', 'npipe:x'));
  });
});
