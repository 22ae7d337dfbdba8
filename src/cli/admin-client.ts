import { request, type IncomingMessage } from 'node:http';
import { CriscopeError } from '../errors.js';
import type { CallEntry } from '../telemetry/recorder/call-entry.js';
import { RECORDER_HEADER, type LostLine } from '../telemetry/recorder/subscriber.js';

/** The admin socket cannot be used: no criscope there, no permission, or an older criscope. */
export class AdminSocketError extends CriscopeError {
  override readonly name = 'AdminSocketError';
}

/** What a reader of /v1/calls hears: each call, and how many it lost while it lagged. */
export interface CallsReader {
  onCall(entry: CallEntry): void;
  onLost(count: number): void;
  /** criscope keeps no calls (its flight recorder is off): the past it was asked for is not there. */
  onRecorderOff(): void;
}

/** What a copier of /v1/calls gets: criscope's lines as they came, whole lines at a time. */
export interface CallsCopier {
  /** One or more whole JSON lines, newlines included. */
  onLines(bytes: Buffer): void;
  /** criscope keeps no calls (its flight recorder is off): the past it was asked for is not there. */
  onRecorderOff(): void;
}

function socketErrorText(socketPath: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') return `no criscope serves ${socketPath} (is criscope running, and is this its admin socket? see admin.socket in its config)`;
  if (error.code === 'EACCES' || error.code === 'EPERM') return `no permission to connect to ${socketPath}: it is mode 0600, for the user criscope runs as (root on a node)`;
  return `cannot connect to ${socketPath}: ${error.message}`;
}

/** How a reader of the stream's body ends it: read to its end, or refused for `what` (the body is not criscope's). */
interface StreamEnd {
  readonly done: () => void;
  readonly refuse: (what: string, cause?: unknown) => void;
}

const NEWLINE = 0x0a;
/** More than this without a line end is not criscope: its longest lines are tens of KB (it cuts strings at 16,000 characters). */
const MAX_LINE_BYTES = 1024 * 1024;

function notCriscope(socketPath: string, what: string, cause?: unknown): AdminSocketError {
  return new AdminSocketError(`${socketPath} does not speak criscope's admin API (${what})`, { cause });
}

/** A line of the calls stream: a call, or how many calls were lost; both are JSON objects, and anything else is not criscope's. */
function parseLine(line: string): CallEntry | LostLine {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError(`not a JSON object: ${line.slice(0, 40)}`);
  return parsed as CallEntry | LostLine;
}

/**
 * GETs /v1/calls?… from criscope's admin socket and hands its body to
 * `onBody` until criscope ends the stream (or `signal` aborts it); the
 * refusals and cuts every reader of the stream must tell apart are told here.
 */
function streamCalls(
  socketPath: string,
  query: URLSearchParams,
  onRecorderOff: () => void,
  onBody: (response: IncomingMessage, end: StreamEnd) => void,
  signal?: AbortSignal,
): Promise<void> {
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
      if (response.headers[RECORDER_HEADER] === 'off') onRecorderOff();
      // criscope ends its streams cleanly when it stops; a cut stream means it went away some other way.
      response.on('error', (error) => {
        if (signal?.aborted === true) resolve();
        else reject(new AdminSocketError(`the stream from ${socketPath} was cut: criscope stopped or restarted`, { cause: error }));
      });
      onBody(response, {
        done: resolve,
        refuse: (what, cause) => {
          response.destroy();
          reject(notCriscope(socketPath, what, cause));
        },
      });
    });
    call.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') resolve();
      else reject(new AdminSocketError(socketErrorText(socketPath, error), { cause: error }));
    });
    call.end();
  });
}

/**
 * Reads GET /v1/calls?… from criscope's admin socket, line by line, until
 * criscope ends the stream (or `signal` aborts it).
 */
export function readCalls(socketPath: string, query: URLSearchParams, reader: CallsReader, signal?: AbortSignal): Promise<void> {
  return streamCalls(
    socketPath,
    query,
    () => reader.onRecorderOff(),
    (response, { done, refuse }) => {
      const readLine = (line: string): boolean => {
        if (line === '') return true;
        let parsed: CallEntry | LostLine;
        try {
          parsed = parseLine(line);
        } catch (error) {
          refuse('a line that is not a JSON object', error);
          return false;
        }
        if ('lost' in parsed) reader.onLost(parsed.lost);
        else reader.onCall(parsed);
        return true;
      };
      // criscope writes its lines in batches; a batch is split here, without an event per line.
      let partial = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (!readLine(line)) return;
        if (partial.length > MAX_LINE_BYTES) refuse(`no line end in ${MAX_LINE_BYTES} bytes`);
      });
      response.on('end', () => {
        if (readLine(partial)) done();
      });
    },
    signal,
  );
}

/**
 * Copies GET /v1/calls?… from criscope's admin socket as it comes, whole
 * lines at a time, until criscope ends the stream (or `signal` aborts it).
 * Only the first line that is not empty is parsed, to tell criscope from
 * something else on the socket: the lines are criscope's documented shape
 * already, and a follower on a busy node gets thousands a second.
 */
export function copyCalls(socketPath: string, query: URLSearchParams, copier: CallsCopier, signal?: AbortSignal): Promise<void> {
  return streamCalls(
    socketPath,
    query,
    () => copier.onRecorderOff(),
    (response, { done, refuse }) => {
      let checked = false;
      /** The start of a line the socket cut: what came since the last line end. */
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const check = (lines: Buffer): boolean => {
        for (let start = 0; start < lines.length; ) {
          const end = lines.indexOf(NEWLINE, start);
          const line = lines.toString('utf8', start, end);
          start = end + 1;
          if (line.trim() === '') continue;
          try {
            parseLine(line);
          } catch (error) {
            refuse('a line that is not a JSON object', error);
            return false;
          }
          checked = true;
          return true;
        }
        return true;
      };
      /** Hands whole lines on, once the first of the stream is known to be criscope's; false when it is not. */
      const copy = (lines: Buffer): boolean => {
        if (!checked && !check(lines)) return false;
        copier.onLines(lines);
        return true;
      };
      response.on('data', (chunk: Buffer) => {
        const wholeEnd = chunk.lastIndexOf(NEWLINE) + 1;
        if (wholeEnd === 0) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes > MAX_LINE_BYTES) refuse(`no line end in ${MAX_LINE_BYTES} bytes`);
          return;
        }
        const lines = pending.length === 0 ? chunk.subarray(0, wholeEnd) : Buffer.concat([...pending, chunk.subarray(0, wholeEnd)]);
        pending = wholeEnd < chunk.length ? [chunk.subarray(wholeEnd)] : [];
        pendingBytes = chunk.length - wholeEnd;
        copy(lines);
      });
      response.on('end', () => {
        // The last line, should criscope have ended the stream without its newline.
        if (pending.length === 0 || copy(Buffer.concat([...pending, Buffer.of(NEWLINE)]))) done();
      });
    },
    signal,
  );
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
