// Reads a Dockerfile into its build stages and instructions, as the builder does for the parts
// the tests check: line continuations, comments, global ARGs in FROM, exec (JSON) forms, COPY's
// flags. No Docker engine runs here, so this is how the tests see what the image will hold.

export interface DockerInstruction {
  /** Upper case: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  readonly text: string;
}

export interface DockerStage {
  /** The base image with global ARG defaults substituted. */
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: readonly DockerInstruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly DockerStage[];
}

export interface DockerCopy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: { base: string; name: string | undefined; instructions: DockerInstruction[] }[] = [];
  for (const { keyword, text: rest } of instructionsOf(text)) {
    if (keyword === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/);
      if (as !== undefined && as.toUpperCase() !== 'AS') throw new Error(`FROM ${rest}: expected "AS name"`);
      stages.push({ base: substitute(image, globalArgs), name, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) {
      if (keyword !== 'ARG') throw new Error(`${keyword} before the first FROM`);
      const [name = '', value = ''] = splitOnce(rest, '=');
      globalArgs[name] = unquote(value);
      continue;
    }
    stage.instructions.push({ keyword, text: rest });
  }
  return { globalArgs, stages };
}

function* instructionsOf(text: string): Generator<DockerInstruction> {
  let pending = '';
  for (const line of text.split('\n')) {
    // Comment lines (and parser directives) are dropped, also inside a continued instruction.
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += continued ? line.replace(/\\\s*$/, ' ') : line;
    if (continued) continue;
    const instruction = pending.trim();
    pending = '';
    if (instruction === '') continue;
    const [keyword = '', rest = ''] = splitOnce(instruction, /\s+/);
    yield { keyword: keyword.toUpperCase(), text: rest.trim() };
  }
}

function splitOnce(text: string, separator: string | RegExp): [string, string] {
  const match = typeof separator === 'string' ? { index: text.indexOf(separator), length: separator.length } : matchOf(text, separator);
  if (match.index < 0) return [text, ''];
  return [text.slice(0, match.index), text.slice(match.index + match.length)];
}

function matchOf(text: string, pattern: RegExp): { index: number; length: number } {
  const match = pattern.exec(text);
  return match === null ? { index: -1, length: 0 } : { index: match.index, length: match[0].length };
}

function unquote(value: string): string {
  return value.replace(/^"(.*)"$/, '$1');
}

function substitute(text: string, args: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => args[braced ?? bare ?? ''] ?? whole);
}

export function instructionsIn(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** The exec (JSON array) form of RUN, CMD or ENTRYPOINT; undefined for the shell form. */
export function execForm(instruction: DockerInstruction): string[] | undefined {
  if (!instruction.text.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(instruction.text);
  const words: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  if (!Array.isArray(parsed) || !words.every((word): word is string => typeof word === 'string')) throw new Error(`${instruction.keyword} ${instruction.text}: not a JSON array of strings`);
  return words;
}

export function copyOf(instruction: DockerInstruction): DockerCopy {
  const words = instruction.text.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  const destination = paths.pop();
  if (destination === undefined || paths.length === 0) throw new Error(`${instruction.keyword} ${instruction.text}: needs a source and a destination`);
  return { from, sources: paths, destination };
}

/** The directory a relative path in the stage resolves against at this instruction's position: the last WORKDIR before it. */
export function workdirBefore(stage: DockerStage, instruction: DockerInstruction): string {
  const index = stage.instructions.indexOf(instruction);
  const workdir = stage.instructions.slice(0, index).filter((candidate) => candidate.keyword === 'WORKDIR').at(-1);
  return workdir?.text ?? '/';
}

/** The default of an ARG declared in the stage. */
export function argDefault(stage: DockerStage, name: string): string | undefined {
  for (const instruction of instructionsIn(stage, 'ARG')) {
    const [argName, value] = splitOnce(instruction.text, '=');
    if (argName === name) return unquote(value);
  }
  return undefined;
}

/** The stage's LABELs, `key="value"` pairs, possibly several per instruction. */
export function labelsOf(stage: DockerStage): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const instruction of instructionsIn(stage, 'LABEL')) {
    for (const match of instruction.text.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      labels[match[1] ?? ''] = unquote(match[2] ?? '');
    }
  }
  return labels;
}
