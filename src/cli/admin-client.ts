import { request } from 'node:http';
import { CriscopeError } from '../errors.js';
import type { CallEntry } from '../telemetry/recorder/call-entry.js';
import { RECORDER_HEADER, type LostLine } from '../telemetry/recorder/subscriber.js';

/** The admin socket cannot be used: no criscope there, no permission, or an older criscope. */
export class AdminSocketError extends CriscopeError {
  override readonly name = 'AdminSocketError';
}

/** What a reader of /v1/calls hears: each call, and how many it lost while it lagged, each with its line as criscope sent it. */
export interface CallsReader {
  onCall(entry: CallEntry, line: string): void;
  onLost(count: number, line: string): void;
  /** criscope keeps no calls (its flight recorder is off): the past it was asked for is not there. */
  onRecorderOff(): void;
}

function socketErrorText(socketPath: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return `no criscope serves ${socketPath} (is criscope running, and is this its admin socket? see admin.socket in its config)`;
  if (error.code === 'EACCES' || error.code === 'EPERM') return `no permission to connect to ${socketPath}: it is mode 0600, for the user criscope runs as (root on a node)`;
  return `cannot connect to ${socketPath}: ${error.message}`;
}

/**
 * Reads GET /v1/calls?… from criscope's admin socket, line by line, until
 * criscope ends the stream (or `signal` aborts it).
 */
export function readCalls(socketPath: string, query: URLSearchParams, reader: CallsReader, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath, path: `/v1/calls?${query.toString()}`, method: 'GET', signal }, (response) => {
      if (response.statusCode !== 200) {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => {
          if (response.statusCode === 404) reject(new AdminSocketError(`what serves ${socketPath} has no /v1/calls: not criscope's admin socket, or a criscope of another admin API version`));
          else reject(new AdminSocketError(`criscope at ${socketPath} refused: ${errorOf(body) ?? `HTTP ${response.statusCode}`}`));
        });
        return;
      }
      if (response.headers[RECORDER_HEADER] === 'off') reader.onRecorderOff();
      // criscope ends its streams cleanly when it stops; a cut stream means it went away some other way.
      response.on('error', (error) => {
        if (signal?.aborted === true) resolve();
        else reject(new AdminSocketError(`the stream from ${socketPath} was cut: criscope stopped or restarted`, { cause: error }));
      });
      const readLine = (line: string): boolean => {
        if (line === '') return true;
        let parsed: CallEntry | LostLine;
        try {
          parsed = JSON.parse(line) as CallEntry | LostLine;
        } catch (error) {
          response.destroy();
          reject(new AdminSocketError(`${socketPath} does not speak criscope's admin API (a line that is not JSON)`, { cause: error }));
          return false;
        }
        if ('lost' in parsed) reader.onLost(parsed.lost, line);
        else reader.onCall(parsed, line);
        return true;
      };
      // criscope writes its lines in batches; a batch is split here, without an event per line.
      let partial = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (!readLine(line)) return;
      });
      response.on('end', () => {
        if (readLine(partial)) resolve();
      });
    });
    call.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') resolve();
      else reject(new AdminSocketError(socketErrorText(socketPath, error), { cause: error }));
    });
    call.end();
  });
}

/** GETs `path` from criscope's admin socket and parses its JSON answer; anything but 200 is an AdminSocketError with criscope's reason. */
export function getJson<Answer>(socketPath: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath, path, method: 'GET' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('error', (error) => reject(new AdminSocketError(`the answer from ${socketPath} was cut: criscope stopped or restarted`, { cause: error })));
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new AdminSocketError(`criscope at ${socketPath} refused: ${errorOf(body) ?? `HTTP ${response.statusCode}`}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as Answer);
        } catch (error) {
          reject(new AdminSocketError(`${socketPath} does not speak criscope's admin API (an answer that is not JSON)`, { cause: error }));
        }
      });
    });
    call.on('error', (error: NodeJS.ErrnoException) => reject(new AdminSocketError(socketErrorText(socketPath, error), { cause: error })));
    call.end();
  });
}

function errorOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}
