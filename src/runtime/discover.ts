import { unixSocketPath, WELL_KNOWN_RUNTIME_ENDPOINTS } from '../config/endpoint.js';
import { RuntimeDiscoveryError } from '../errors.js';
import { socketAnswers } from '../relay/socket-path.js';

/** The first well-known runtime socket that accepts a connection, tried in crictl's order. */
export async function discoverRuntimeEndpoint(candidates: readonly string[] = WELL_KNOWN_RUNTIME_ENDPOINTS): Promise<string> {
  for (const endpoint of candidates) {
    const path = unixSocketPath(endpoint);
    if (path !== undefined && (await socketAnswers(path))) return endpoint;
  }
  throw new RuntimeDiscoveryError(candidates);
}
