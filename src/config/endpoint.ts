import { posix } from 'node:path';

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

/**
 * The socket an endpoint (or a socket path) names, spelled one way, so that two
 * spellings of one socket compare equal: `unix:///var/run/x.sock`, `unix:/run//x.sock`
 * and `/run/./x.sock` all give /run/x.sock. /var/run is a link to /run on every
 * systemd distribution; `.`, `..` and doubled slashes are resolved as text (no other
 * link is followed). Undefined for anything that is not a unix socket.
 */
export function canonicalSocketPath(endpoint: string): string | undefined {
  const path = unixSocketPath(endpoint);
  if (path === undefined) return undefined;
  const normal = posix.normalize(path).replace(/(.)\/+$/, '$1');
  return normal === '/var/run' || normal.startsWith('/var/run/') ? normal.slice('/var'.length) : normal;
}

/** Whether two endpoints (or socket paths) name one socket; anything not a unix socket is compared as written. */
export function sameSocket(a: string, b: string): boolean {
  return (canonicalSocketPath(a) ?? a) === (canonicalSocketPath(b) ?? b);
}

/** The socket kubelet's image endpoint connects to when the config leaves imageListen out: criscope-image.sock beside listen. */
export function defaultImageListen(listen: string): string | undefined {
  const path = unixSocketPath(listen);
  return path === undefined ? undefined : posix.join(posix.dirname(path), 'criscope-image.sock');
}

/** The admin socket's default: admin.sock beside the listen socket (/run/criscope/admin.sock on a node). */
export function defaultAdminSocket(listen: string): string {
  return posix.join(posix.dirname(unixSocketPath(listen) ?? '/run/criscope/criscope.sock'), 'admin.sock');
}

/** The sockets tried, in order, when no runtime endpoint is configured (the same list crictl uses). */
export const WELL_KNOWN_RUNTIME_ENDPOINTS: readonly string[] = [
  'unix:///run/containerd/containerd.sock',
  'unix:///run/crio/crio.sock',
  'unix:///var/run/cri-dockerd.sock',
];
