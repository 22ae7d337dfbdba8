import type { RuntimeClient } from './runtime-client.js';

/** How long criscope waits for the runtime to say an image's size. */
const LOOKUP_TIMEOUT_MS = 2000;
/** The most images looked up for one answer: a pod has a few. */
const MAX_IMAGES = 16;

/**
 * The size in bytes of each image the runtime has now, by the name asked for
 * (ImageStatus): CRI's PullImage answers only an image's reference, so a
 * pull's size is asked afterwards. An image the runtime no longer has, or does
 * not answer for in time, is left out.
 */
export async function imageSizes(client: RuntimeClient, images: readonly string[]): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  await Promise.all(
    [...new Set(images)].slice(0, MAX_IMAGES).map(async (image) => {
      try {
        const response = await client.call('ImageService', 'ImageStatus', { image: { image } }, LOOKUP_TIMEOUT_MS);
        const found = response['image'] as { size?: unknown } | null | undefined;
        const size = Number(found?.size);
        if (found !== null && found !== undefined && Number.isFinite(size) && size > 0) sizes[image] = size;
      } catch {
        // Left out: the history is worth having without the size.
      }
    }),
  );
  return sizes;
}
