import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { isSea } from 'node:sea';
import { InstallError } from '../errors.js';
import { isBundledBuild, packagedFile, type PackagedFile } from '../packaged-files.js';
import { parseEnvFile } from './env-file.js';
import { NODE_PATHS } from './node-layout.js';
import { parseMapping, setString } from './yaml-splice.js';

/** What install puts on the node besides the executable, and whether an existing copy is replaced or kept. */
export interface NodeFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** replace: criscope's own (upgrades bring new ones); keep: the operator's once written. */
  readonly existing: 'replace' | 'keep';
  /** What the operator should know of its content, said when it is written. */
  readonly note?: string;
}

const UNITS: readonly [PackagedFile, string][] = [
  ['config/systemd/criscope.service', NODE_PATHS.serviceUnit],
  ['config/systemd/criscope.socket', NODE_PATHS.socketUnit],
  ['config/systemd/kubelet.service.d/90-criscope.conf', NODE_PATHS.kubeletDropIn],
];

/** The units and kubelet's drop-in, replaced on every install so an upgrade brings its own. */
export function unitFiles(): NodeFile[] {
  return UNITS.map(([source, path]) => ({ path, content: packagedFile(source), mode: 0o644, existing: 'replace' }));
}

/** /etc/default/criscope without --env-file: written once; the operator's settings live there. */
export function packagedEnvFile(): NodeFile {
  return { path: NODE_PATHS.envFile, content: packagedFile('config/systemd/criscope.env'), mode: 0o600, existing: 'keep' };
}

/**
 * /etc/criscope/criscope.yaml, written once: the packaged config with runtimeEndpoint set
 * to the runtime kubelet used before, and imageEndpoint when kubelet's image endpoint was
 * a socket of its own (criscope then serves kubelet's image endpoint on criscope-image.sock).
 */
export function criscopeConfig(previous: { readonly runtime: string; readonly image: string }, imageSplit: boolean): NodeFile {
  const source = 'config/criscope.yaml';
  let text = setString(parseMapping(packagedFile(source), source), 'runtimeEndpoint', previous.runtime, source).text;
  if (imageSplit) text = setString(parseMapping(text, source), 'imageEndpoint', previous.image, source, 'runtimeEndpoint').text;
  const note = `runtimeEndpoint: ${previous.runtime}${imageSplit ? `, imageEndpoint: ${previous.image}` : ''}`;
  return { path: NODE_PATHS.config, content: text, mode: 0o600, existing: 'keep', note };
}

/** Where the executable to install comes from. */
export interface ExecutableSource {
  /** A path in the installer's own file system (not under --root). */
  readonly path: string;
  readonly size: number;
  /** How it was chosen, for the message. */
  readonly from: string;
}

/**
 * --binary when given; else this process's own executable when it is the single
 * executable; else this script when it is the bundled build. The TypeScript build needs
 * node_modules beside it, so copying it alone would leave a node without a working
 * criscope: refused. Only looked at here (it is about 100 MB): it is compared and copied
 * as a file, never held in memory.
 */
export function executableSource(binaryOption: string | undefined): ExecutableSource {
  let path: string;
  let from: string;
  if (binaryOption !== undefined) {
    path = binaryOption;
    from = '--binary';
  } else if (isSea()) {
    path = process.execPath;
    from = 'this single executable';
  } else if (isBundledBuild && process.argv[1] !== undefined) {
    path = process.argv[1];
    from = 'this bundled script';
  } else {
    throw new InstallError(
      NODE_PATHS.executable,
      'nothing to install: this criscope is the TypeScript build, which needs its node_modules; run install from the single executable or the bundled script that `npm run build` makes, or pass --binary FILE',
    );
  }
  try {
    // Opened, not only looked at, so that one install cannot read is refused before anything is written.
    closeSync(openSync(path, 'r'));
    const stat = statSync(path);
    if (!stat.isFile()) throw new InstallError(path, `the executable to install (${from}) is not a file`);
    return { path, size: stat.size, from };
  } catch (error) {
    if (error instanceof InstallError) throw error;
    throw new InstallError(path, `cannot read the executable to install (${from}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * /etc/default/criscope from --env-file (a file of the installer's own, not under --root):
 * then it is install's to keep as given, replaced when it differs, like the units. It
 * must read as a systemd environment file, or it is refused before anything is written:
 * systemd would otherwise skip lines of it without a word.
 */
export function envFileFrom(envFileOption: string): NodeFile {
  let content: string;
  try {
    content = readFileSync(envFileOption, 'utf8');
  } catch (error) {
    throw new InstallError(envFileOption, `cannot read the environment file to install (--env-file): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  parseEnvFile(content, envFileOption);
  return { path: NODE_PATHS.envFile, content, mode: 0o600, existing: 'replace', note: `from ${envFileOption} (--env-file)` };
}
