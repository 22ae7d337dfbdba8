import { buildMethodTable } from '../cri/method-table.js';
import { loadCriProto } from '../cri/proto-root.js';
import { RuntimeClient, type RuntimeVersion } from '../runtime/runtime-client.js';

/** Each try's own limit: a criscope that has the socket but not yet the runtime answers within it. */
const TRY_TIMEOUT_MS = 2_000;
const RETRY_DELAY_MS = 250;

/**
 * Waits until a CRI Version call through criscope's socket answers: criscope is serving
 * and reaches the runtime, which is what kubelet needs of it. Resolves with the answer,
 * or rejects with the last error once `waitSeconds` have passed.
 */
export async function waitForCriVersion(socketPath: string, waitSeconds: number): Promise<RuntimeVersion> {
  const client = new RuntimeClient(socketPath, buildMethodTable(loadCriProto()));
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    for (;;) {
      const remaining = deadline - Date.now();
      try {
        return await client.version(Math.max(1, Math.min(TRY_TIMEOUT_MS, remaining)));
      } catch (error) {
        if (Date.now() + RETRY_DELAY_MS >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  } finally {
    client.close();
  }
}
