#!/usr/bin/env node
import { loadConfig } from '../config/load.js';
import { CriscopeError } from '../errors.js';
import { install } from '../install/install.js';
import { uninstall } from '../install/uninstall.js';
import { packagedFile } from '../packaged-files.js';
import { createLogger } from '../telemetry/logger.js';
import { parseCommand, USAGE } from './args.js';
import { checkPolicy } from './policy-check.js';
import { startCriscope } from './serve.js';

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
  if (command.kind === 'install' || command.kind === 'uninstall') {
    const write = (line: string): void => void process.stdout.write(line);
    if (command.kind === 'install') await install(command.options, write);
    else await uninstall(command.options, write);
    return 0;
  }
  const config = loadConfig(command.configFile, command.overrides);
  if (command.kind === 'policy-check') return checkPolicy(config, process.stdout);
  const log = createLogger(config.log.level);
  const running = await startCriscope(config, log, { version: packageVersion() });
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
    const message = error instanceof CriscopeError ? error.message : (error as Error).stack ?? String(error);
    process.stderr.write(`criscope: ${message}\n`);
    process.exit(1);
  },
);
