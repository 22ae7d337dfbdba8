/** CRI endpoints are unix sockets, written as kubelet and crictl write them. */

/** The socket path of `unix:///path`, `unix:/path` or a bare absolute path; undefined for anything else. */
export function unixSocketPath(endpoint: string): string | undefined {
  if (endpoint.startsWith('unix://')) {
    const path = endpoint.slice('unix://'.length);
    return path.startsWith('/') ? path : undefined;
  }
  if (endpoint.startsWith('unix:')) {
    const path = endpoint.slice('unix:'.length);
    return path.startsWith('/') ? path : undefined;
  }
  return endpoint.startsWith('/') ? endpoint : undefined;
}

/** The sockets tried, in order, when no runtime endpoint is configured (the same list crictl uses). */
export const WELL_KNOWN_RUNTIME_ENDPOINTS: readonly string[] = [
  'unix:///run/containerd/containerd.sock',
  'unix:///run/crio/crio.sock',
  'unix:///var/run/cri-dockerd.sock',
];
