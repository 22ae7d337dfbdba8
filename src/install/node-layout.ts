import { sameSocket } from '../config/endpoint.js';

/**
 * Where criscope's files live on a node, as the node sees them. Install and uninstall
 * join these to --root (the DaemonSet mounts the host at /host), and record and print
 * them as they are here, so a record written from a pod reads the same on the host.
 */
export const NODE_PATHS = {
  executable: '/usr/local/bin/criscope',
  config: '/etc/criscope/criscope.yaml',
  envFile: '/etc/default/criscope',
  serviceUnit: '/etc/systemd/system/criscope.service',
  socketUnit: '/etc/systemd/system/criscope.socket',
  kubeletDropIn: '/etc/systemd/system/kubelet.service.d/90-criscope.conf',
  state: '/var/lib/criscope/install.json',
  refusedUpgrade: '/var/lib/criscope/refused-upgrade.json',
  socket: '/run/criscope/criscope.sock',
  imageSocket: '/run/criscope/criscope-image.sock',
} as const;

/** The links `systemctl enable` makes from the units' [Install] sections. */
export const ENABLE_LINKS: readonly string[] = ['/etc/systemd/system/multi-user.target.wants/criscope.service', '/etc/systemd/system/sockets.target.wants/criscope.socket'];

export const CRISCOPE_ENDPOINT = `unix://${NODE_PATHS.socket}`;
export const CRISCOPE_IMAGE_ENDPOINT = `unix://${NODE_PATHS.imageSocket}`;

/** kubelet's runtime endpoint when neither a flag nor its config sets one (kubelet ≥ 1.27's default). */
export const KUBELET_DEFAULT_RUNTIME_ENDPOINT = 'unix:///run/containerd/containerd.sock';

/** The suffix of the copy install makes of each kubelet file before it first edits it. */
export const BACKUP_SUFFIX = '.criscope-backup';

/** Whether an endpoint is one of criscope's own sockets (the runtime one or the image one). */
export function isCriscopeEndpoint(endpoint: string): boolean {
  return sameSocket(endpoint, CRISCOPE_ENDPOINT) || sameSocket(endpoint, CRISCOPE_IMAGE_ENDPOINT);
}
