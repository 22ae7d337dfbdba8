import { z } from 'zod';
import { unixSocketPath } from './endpoint.js';

const MIB = 1024 * 1024;

const unixEndpoint = z
  .string()
  .refine((value) => unixSocketPath(value) !== undefined, {
    message: 'must be a unix socket endpoint such as unix:///run/containerd/containerd.sock',
  });

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
  message: 'must be host:port, e.g. 127.0.0.1:9810',
});

/** File mode of the listen socket: a number (0o660 read from YAML as 432) or an octal string "0660". */
const socketMode = z.union([
  z.number().int().min(0).max(0o777),
  z
    .string()
    .regex(/^0?[0-7]{3}$/, { message: 'must be an octal file mode such as "0660"' })
    .transform((value) => Number.parseInt(value, 8)),
]);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The config file's shape; every key is optional there, and flags override the file. */
export const configSchema = z
  .object({
    listen: unixEndpoint.default('unix:///run/criscope/criscope.sock'),
    runtimeEndpoint: unixEndpoint.optional(),
    imageEndpoint: unixEndpoint.optional(),
    /** Where kubelet's image endpoint connects when imageEndpoint is set; defaults to criscope-image.sock beside listen. */
    imageListen: unixEndpoint.optional(),
    socketMode: socketMode.default(0o660),
    httpListen: hostPort.default('127.0.0.1:9810'),
    maxMessageBytes: z
      .number()
      .int()
      .min(4 * MIB, { message: 'must be at least 4 MiB (kubelet itself sends up to 16 MiB)' })
      .default(16 * MIB),
    shutdownGraceSeconds: z.number().min(0).max(600).default(10),
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;
