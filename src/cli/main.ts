#!/usr/bin/env node
import { inspect } from 'node:util';
import { loadConfig } from '../config/load.js';
import { CriscopeError } from '../errors.js';
import { packagedFile } from '../packaged-files.js';
import { parseCommand, USAGE } from './args.js';
import { defaultAdminSocket } from '../config/endpoint.js';

function packageVersion(): string {
  const manifest = JSON.parse(packagedFile('package.json')) as { version: string };
  return manifest.version;
}

/** The only place that exits the process. */
async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    process.stderr.write(`criscope: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`criscope ${packageVersion()}\n`);
    return 0;
  }
  // Each command loads only its own modules: `criscope tail` on a node starts without the relay's, the installer's or policy's.
  if (command.kind === 'install' || command.kind === 'uninstall') {
    const write = (line: string): void => void process.stdout.write(line);
    if (command.kind === 'install') await (await import('../install/install.js')).install(command.options, write);
    else await (await import('../install/uninstall.js')).uninstall(command.options, write);
    return 0;
  }
  if (command.kind === 'flight-show') return (await import('./flight-show.js')).showFlightDump(command.path, command.options, process.stdout);
  const config = loadConfig(command.configFile, command.overrides);
  const adminSocket = config.admin.socket ?? defaultAdminSocket(config.listen);
  if (command.kind === 'tail') return (await import('./tail.js')).tail(adminSocket, command.options, process.stdout, process.stderr);
  if (command.kind === 'top') return (await import('./top.js')).top(adminSocket, command.options, process.stdout, process.stdin);
  if (command.kind === 'why') return (await import('./why.js')).why(adminSocket, command.pod, process.stdout);
  if (command.kind === 'policy-check') return (await import('./policy-check.js')).checkPolicy(config, process.stdout);
  const [{ createLogger }, { startCriscope }] = await Promise.all([import('../telemetry/logger.js'), import('./serve.js')]);
  const log = createLogger(config.log.level);
  // Taken before starting, so Node's own use of SIGUSR1 (opening the inspector) never applies: a node's criscope has no use for it.
  let dumpFlightRecorder = (): void => log.warn('SIGUSR1 before criscope serves: nothing to dump yet');
  process.on('SIGUSR1', () => dumpFlightRecorder());
  const running = await startCriscope(config, log, { version: packageVersion() });
  dumpFlightRecorder = () => running.dumpFlightRecorder();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      running.stop().then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'unclean stop');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => running.reloadPolicy());
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`criscope: ${exitReport(error)}\n`);
    process.exit(1);
  },
);

/**
 * What criscope says when it exits on an error: criscope's own errors by their
 * message (they name what was wrong and where), and each cause they wrap that
 * the message does not already tell, on a line of its own; anything else, a
 * bug, with its stack.
 */
function exitReport(error: unknown): string {
  if (!(error instanceof CriscopeError)) return error instanceof Error ? (error.stack ?? error.message) : String(error);
  const lines = [error.message];
  for (let cause = error.cause; cause !== undefined; cause = cause instanceof Error ? cause.cause : undefined) {
    const told = cause instanceof Error ? cause.message : inspect(cause);
    if (!lines.some((line) => line.includes(told))) lines.push(`  caused by: ${told}`);
  }
  return lines.join('\n');
}
