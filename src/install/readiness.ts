import { buildMethodTable } from '../cri/method-table.js';
import { loadCriProto } from '../cri/proto-root.js';
import { NotAnsweringError } from '../errors.js';
import { RuntimeClient, type RuntimeVersion } from '../runtime/runtime-client.js';

/** Each try's own limit: a criscope that has the socket but not yet the runtime answers within it. */
const TRY_TIMEOUT_MS = 2_000;
const RETRY_DELAY_MS = 250;

/** The sockets of criscope's that kubelet will be pointed at, as paths in this process's file system. */
export interface CriscopeSockets {
  readonly runtime: string;
  /** criscope-image.sock, when kubelet's image endpoint goes there (the runtime serves images on a socket of its own). */
  readonly image: string | undefined;
}

export interface CriscopeAnswer {
  readonly version: RuntimeVersion;
  /** How many image file systems the image service reported through criscope-image.sock; undefined when there is none to ask. */
  readonly imageFilesystems: number | undefined;
}

/**
 * Waits until every socket kubelet will be pointed at answers: a CRI Version call through
 * criscope's runtime socket (criscope serves and reaches the runtime), and, when kubelet's
 * image endpoint goes to criscope-image.sock, an ImageFsInfo call through that one (criscope
 * serves it and reaches the image service). Resolves with the answers, or rejects with
 * a NotAnsweringError naming the call, once `waitSeconds` have passed.
 */
export async function waitForCriscope(sockets: CriscopeSockets, waitSeconds: number): Promise<CriscopeAnswer> {
  const deadline = Date.now() + waitSeconds * 1000;
  const table = buildMethodTable(loadCriProto());
  const version = await retryUntil(deadline, sockets.runtime, (client, timeoutMs) => client.version(timeoutMs), table).catch((error: unknown) => {
    throw new NotAnsweringError('runtime', 'a CRI Version call', (error as Error).message, { cause: error });
  });
  if (sockets.image === undefined) return { version, imageFilesystems: undefined };
  const imageFs = await retryUntil(deadline, sockets.image, (client, timeoutMs) => client.call('ImageService', 'ImageFsInfo', {}, timeoutMs), table).catch((error: unknown) => {
    throw new NotAnsweringError('image', 'an ImageFsInfo call', (error as Error).message, { cause: error });
  });
  const filesystems = imageFs['image_filesystems'];
  return { version, imageFilesystems: Array.isArray(filesystems) ? filesystems.length : 0 };
}

async function retryUntil<T>(deadline: number, socketPath: string, call: (client: RuntimeClient, timeoutMs: number) => Promise<T>, table: ReturnType<typeof buildMethodTable>): Promise<T> {
  const client = new RuntimeClient(socketPath, table);
  try {
    for (;;) {
      const remaining = deadline - Date.now();
      try {
        return await call(client, Math.max(1, Math.min(TRY_TIMEOUT_MS, remaining)));
      } catch (error) {
        if (Date.now() + RETRY_DELAY_MS >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  } finally {
    client.close();
  }
}
