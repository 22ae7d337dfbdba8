import type { TopSnapshot } from '../telemetry/top/top-view.js';
import { getJson } from './admin-client.js';
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
  let stop = (): void => undefined;
  const draw = (): void => {
    if (last === undefined) return;
    const lines = topLines(last, sort).map((line) => line.slice(0, out.columns));
    lines.push('', `keys: ${Object.entries(SORTS).map(([key, name]) => `${key} ${name}`).join(', ')}, s next sort, q quit`);
    out.write(HOME_AND_CLEAR + lines.slice(0, Math.max(1, out.rows - 1)).join('\n'));
  };
  out.write(ENTER_SCREEN);
  input.setRawMode(true);
  input.resume();
  try {
    await new Promise<void>((resolve, reject) => {
      stop = resolve;
      const refresh = (): void => {
        fetchSnapshot().then((snapshot) => {
          last = snapshot;
          draw();
          timer = setTimeout(refresh, REFRESH_MS);
        }, reject);
      };
      input.on('data', (chunk: Buffer) => {
        for (const key of chunk.toString()) {
          if (key === 'q' || key === CTRL_C) resolve();
          else if (key === 's') sort = nextSort(sort);
          else if (isSortKey(key)) sort = key;
        }
        draw();
      });
      out.on('resize', draw);
      process.once('SIGTERM', stop);
      refresh();
    });
  } finally {
    clearTimeout(timer);
    process.off('SIGTERM', stop);
    out.off('resize', draw);
    input.setRawMode(false);
    input.pause();
    out.write(LEAVE_SCREEN);
  }
  return 0;
}
