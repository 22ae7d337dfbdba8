import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, statusOf, type Message } from '../support/cri-client.js';
import { assertResponsesRoundTrip } from '../support/round-trip.js';
import { testRuntime } from '../support/runtime-env.js';

const runtime = testRuntime();

describe('runtime and image calls through criscope, against the real containerd', () => {
  let criscope: CriscopeProcess;
  let client: CriTestClient;
  let direct: CriTestClient;

  before(async () => {
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket });
    client = new CriTestClient(criscope.socketPath);
    direct = new CriTestClient(runtime.containerdSocket);
    // Start from a runtime that does not have the pull-only image, so the pull really goes to the registry.
    await direct.call('RemoveImage', { image: { image: runtime.pullOnlyImage } }).catch(() => undefined);
  });

  after(async () => {
    client.close();
    direct.close();
    await criscope.stop();
  });

  it('answers Version, Status and RuntimeConfig as containerd does', async () => {
    const version = await client.call('Version');
    assert.equal(version['runtime_name'], 'containerd');
    assert.equal(version['runtime_api_version'], 'v1');
    const status = (await client.call('Status', { verbose: false })) as { status: { conditions: Message[] } };
    const conditions = new Map(status.status.conditions.map((condition) => [condition['type'], condition['status']]));
    assert.equal(conditions.get('RuntimeReady'), true);
  });

  it('answers RuntimeConfig exactly as containerd does (1.6 does not implement it yet)', async () => {
    const outcome = (via: CriTestClient): Promise<unknown> =>
      via.call('RuntimeConfig').then(
        (response) => ({ response }),
        (error: unknown) => ({ code: statusOf(error), details: (error as { details: string }).details }),
      );
    assert.deepEqual(await outcome(client), await outcome(direct));
  });

  it('lists, inspects and measures images', async () => {
    const list = (await client.call('ListImages')) as { images: Message[] };
    const tags = list.images.flatMap((image) => image['repo_tags'] as string[]);
    assert.ok(tags.includes(runtime.busyboxImage), `ListImages includes ${runtime.busyboxImage}: ${tags.join(', ')}`);
    const status = (await client.call('ImageStatus', { image: { image: runtime.busyboxImage } })) as { image: Message };
    assert.deepEqual(status.image['repo_tags'], [runtime.busyboxImage]);
    const fs = (await client.call('ImageFsInfo')) as { image_filesystems: Message[] };
    assert.ok(fs.image_filesystems.length >= 1);
  });

  it('pulls an image from the loopback registry', async () => {
    const pulled = (await client.call('PullImage', {
      image: { image: runtime.pullOnlyImage },
      auth: { username: 'registry-user', password: 'registry-password-must-not-be-logged' },
    })) as { image_ref: string };
    assert.match(pulled.image_ref, /^sha256:[0-9a-f]{64}$/);
    const status = (await direct.call('ImageStatus', { image: { image: runtime.pullOnlyImage } })) as { image: Message | null };
    assert.equal(status.image?.['id'], pulled.image_ref);
    assert.ok(!criscope.output().includes('registry-password-must-not-be-logged'), 'registry credentials are not logged');
  });

  it("returns the runtime's own error for an image the registry does not have", async () => {
    const failure = async (via: CriTestClient): Promise<{ code: number | undefined; details: string }> => {
      try {
        await via.call('PullImage', { image: { image: runtime.missingImage } });
      } catch (error) {
        return { code: statusOf(error), details: (error as { details: string }).details };
      }
      throw new Error('PullImage of a missing image succeeded');
    };
    const [proxied, straight] = await Promise.all([failure(client), failure(direct)]);
    assert.equal(proxied.code, straight.code);
    assert.notEqual(proxied.code, 14, 'the error is the runtime’s, not criscope’s UNAVAILABLE');
    assert.match(proxied.details, /not found|failed to resolve/);
    assert.equal(proxied.details.replace(/\d+/g, 'N'), straight.details.replace(/\d+/g, 'N'));
  });

  it('sends back responses that decode with proto/ and re-encode to the same bytes', () => {
    assertResponsesRoundTrip(client, 6);
  });
});
