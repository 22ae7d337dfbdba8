import type { TopSnapshot } from '../telemetry/top/top-view.js';
import { AdminSocketError, getJson } from './admin-client.js';
import { isSortKey, nextSort, SORTS, topLines, type SortKey } from './top-screen.js';

/** How often the screen is redrawn. */
const REFRESH_MS = 1000;

/** Terminal control: the alternate screen and a hidden cursor while top runs, both given back when it ends. */
const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';
const HOME_AND_CLEAR = '\x1b[H\x1b[2J';
const CTRL_C = '\x03';

export interface TopOptions {
  /** One plain snapshot, then exit. */
  readonly once: boolean;
}

/** `criscope top`: one plain snapshot with --once (or when not on a terminal), else a screen redrawn each second until `q`. */
export async function top(socketPath: string, options: TopOptions, out: NodeJS.WriteStream, input: NodeJS.ReadStream): Promise<number> {
  const fetchSnapshot = (): Promise<TopSnapshot> => getJson<TopSnapshot>(socketPath, '/v1/top');
  if (options.once || !out.isTTY || !input.isTTY) {
    out.write(`${topLines(await fetchSnapshot(), 'c').join('\n')}\n`);
    return 0;
  }
  return liveScreen(fetchSnapshot, out, input);
}

async function liveScreen(fetchSnapshot: () => Promise<TopSnapshot>, out: NodeJS.WriteStream, input: NodeJS.ReadStream): Promise<number> {
  let sort: SortKey = 'c';
  let last: TopSnapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  // A fetch answered after top ended neither draws nor schedules another.
  let running = true;
  let stop = (): void => undefined;
  const draw = (): void => {
    if (last === undefined) return;
    const lines = topLines(last, sort).map((line) => line.slice(0, out.columns));
    lines.push('', `keys: ${Object.entries(SORTS).map(([key, name]) => `${key} ${name}`).join(', ')}, s next sort, q quit`);
    out.write(HOME_AND_CLEAR + lines.slice(0, Math.max(1, out.rows - 1)).join('\n'));
  };
  // Set once top runs; the listeners are removed by the same references.
  let redraw = (): void => undefined;
  let onKeys: (chunk: Buffer) => void = () => undefined;
  out.write(ENTER_SCREEN);
  input.setRawMode(true);
  input.resume();
  try {
    await new Promise<void>((resolve, reject) => {
      stop = resolve;
      // An answer that cannot be drawn ends top as a failed fetch does: through the finally below, the terminal given back.
      redraw = () => {
        try {
          draw();
        } catch (error) {
          reject(new AdminSocketError("criscope's answer to /v1/top cannot be drawn: an older or newer criscope, or not criscope's admin socket", { cause: error }));
        }
      };
      const refresh = (): void => {
        fetchSnapshot()
          .then((snapshot) => {
            if (!running) return;
            last = snapshot;
            redraw();
            timer = setTimeout(refresh, REFRESH_MS);
          })
          .catch(reject);
      };
      onKeys = (chunk) => {
        for (const key of chunk.toString()) {
          if (key === 'q' || key === CTRL_C) resolve();
          else if (key === 's') sort = nextSort(sort);
          else if (isSortKey(key)) sort = key;
        }
        redraw();
      };
      input.on('data', onKeys);
      out.on('resize', redraw);
      process.once('SIGTERM', stop);
      refresh();
    });
  } finally {
    running = false;
    clearTimeout(timer);
    process.off('SIGTERM', stop);
    input.off('data', onKeys);
    out.off('resize', redraw);
    input.setRawMode(false);
    input.pause();
    out.write(LEAVE_SCREEN);
  }
  return 0;
}
