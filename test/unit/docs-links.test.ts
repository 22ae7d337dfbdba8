import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(PROJECT_ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** The lines of a markdown page outside fenced code blocks. */
function proseLines(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    return !fenced && !line.startsWith('```');
  });
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of proseLines(readFileSync(join(PROJECT_ROOT, page), 'utf8'))) {
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (heading !== null) anchors.add(anchorOf(heading[1]));
  }
  return anchors;
}

/** Every relative link of a page (web addresses are not checked: no network here). */
function linksOf(page: string): string[] {
  const links: string[] = [];
  for (const line of proseLines(readFileSync(join(PROJECT_ROOT, page), 'utf8'))) {
    for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) if (!/^[a-z]+:/.test(match[1])) links.push(match[1]);
  }
  return links;
}

describe('the README and docs/', () => {
  it('link only to files and headings that exist', () => {
    const dead: string[] = [];
    for (const page of PAGES) {
      for (const link of linksOf(page)) {
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? page : relative(PROJECT_ROOT, join(PROJECT_ROOT, dirname(page), path));
        if (!existsSync(join(PROJECT_ROOT, target))) dead.push(`${page}: ${link} (no file ${target})`);
        else if (anchor !== undefined && (!target.endsWith('.md') || !anchorsOf(target).has(anchor))) dead.push(`${page}: ${link} (no heading #${anchor} in ${target})`);
      }
    }
    assert.deepEqual(dead, []);
  });

  it('are reachable from the README', () => {
    const linked = new Set(linksOf('README.md').map((link) => link.split('#')[0]));
    for (const page of PAGES.filter((candidate) => candidate !== 'README.md')) assert.ok(linked.has(page), `the README links to ${page}`);
  });

  it('keep the README a front page of at most about 250 lines', () => {
    const lines = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8').split('\n').length;
    assert.ok(lines <= 250, `README.md has ${lines} lines`);
  });

  it('cite a committed benchmark result wherever they give a figure of criscope’s speed or cost', () => {
    for (const page of PAGES) {
      const text = readFileSync(join(PROJECT_ROOT, page), 'utf8');
      const prose = proseLines(text).join('\n');
      const cited = [...text.matchAll(/bench\/results\/([\d-]+\.md)/g)].map((match) => match[1]);
      for (const result of cited) assert.ok(statSync(join(PROJECT_ROOT, 'bench/results', result)).isFile(), `${page} cites bench/results/${result}`);
      // A cost in µs, a CPU percentage, or a comparison with nghttpx: each needs the run that shows it.
      const claim = /\d+(\.\d+)? ?µs|\d+% (more |less )?CPU|\d+(\.\d+)? times nghttpx|nghttpx's/.exec(prose);
      if (claim !== null) assert.ok(cited.length > 0 || /\]\((\.\.\/)?(docs\/)?benchmark\.md/.test(prose), `${page} says "${claim[0]}" but cites no committed result`);
    }
  });
});
