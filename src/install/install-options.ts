/** How install and uninstall reach systemd: run systemctl here, in PID 1's namespaces, or not at all (print the commands). */
export type SystemdMode = 'host' | 'nsenter' | 'none';

export const SYSTEMD_MODES: readonly SystemdMode[] = ['host', 'nsenter', 'none'];

/** `criscope install` and `uninstall`'s options, parsed and checked by the CLI. */
export interface InstallOptions {
  /** The node's root file system: `/`, or where the installer pod mounts the host. */
  readonly root: string;
  /** kubelet's config file as the node names it; undefined: found from kubelet's flags. */
  readonly kubeletConfig: string | undefined;
  readonly systemd: SystemdMode;
  /** The executable to install; undefined: this one (single executable or bundled script). */
  readonly binary: string | undefined;
  /** install only: criscope.service's environment file to put on the node, in the installer's own file system; undefined: the node's is kept. */
  readonly envFile: string | undefined;
  /** How long install waits for criscope to answer before it moves kubelet. */
  readonly waitSeconds: number;
  readonly dryRun: boolean;
}
