// The manifests against the Kubernetes API's own OpenAPI schemas (and the Prometheus Operator's
// CRD schema for the ServiceMonitor), offline: kubernetes-models and
// @kubernetes-models/prometheus-operator (devDependencies) carry them compiled. They catch a
// wrong type, a missing required field, a bad quantity or duration; not a misspelt field name
// (the API's schemas allow unknown fields; `kubectl apply --validate=strict` catches those).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseManifests, type Manifest } from '../support/kubernetes-manifests.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type ModelClass = new (data: unknown) => { validate(): void };

/** The kubernetes-models module that holds the model of this apiVersion and kind. */
function modelModule(manifest: Manifest): string {
  const [group, version] = manifest.apiVersion.includes('/') ? manifest.apiVersion.split('/') : ['', manifest.apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version ?? ''}/${manifest.kind}`;
  return group === '' ? `kubernetes-models/${version ?? ''}/${manifest.kind}` : `kubernetes-models/${group}/${version ?? ''}/${manifest.kind}`;
}

async function validate(manifest: Manifest): Promise<void> {
  const specifier = modelModule(manifest);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load ${specifier} (run npm ci: kubernetes-models and @kubernetes-models/prometheus-operator are devDependencies): ${(error as Error).message}`);
  }
  const model = loaded[manifest.kind];
  assert.equal(typeof model, 'function', `${specifier} exports ${manifest.kind}`);
  new (model as ModelClass)(manifest).validate();
}

const FILES: { name: string; path: string; edit?: (text: string) => string }[] = [
  { name: 'the installer', path: 'config/kubernetes/criscope-installer.yaml' },
  // As the operator applies it, with a node's name in place of the placeholder.
  { name: 'the uninstall Job', path: 'config/kubernetes/criscope-uninstall-job.yaml', edit: (text) => text.replaceAll('NODE-NAME', 'worker-1') },
  { name: 'the ServiceMonitor', path: 'config/kubernetes/criscope-servicemonitor.yaml' },
];

describe("the Kubernetes manifests against the API's schemas", () => {
  for (const file of FILES) {
    it(`${file.name} (${file.path})`, async () => {
      const text = readFileSync(join(PROJECT_ROOT, file.path), 'utf8');
      const manifests = parseManifests(file.edit?.(text) ?? text, file.path);
      assert.ok(manifests.length > 0);
      for (const manifest of manifests) {
        await assert.doesNotReject(validate(manifest), `${manifest.kind} ${manifest.metadata.name ?? manifest.metadata.generateName ?? ''}`);
      }
    });
  }

  it('are told apart from a broken manifest', async () => {
    const broken = parseManifests(
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata: { name: x }\nspec:\n  selector: { matchLabels: { a: b } }\n  template:\n    spec:\n      hostPID: "yes"\n      containers: [{ name: c, image: i, readinessProbe: { httpGet: { path: /readyz } } }]\n',
      'broken',
    );
    const [daemonSet] = broken;
    assert.ok(daemonSet !== undefined);
    await assert.rejects(validate(daemonSet), /hostPID must be boolean/);
  });
});
