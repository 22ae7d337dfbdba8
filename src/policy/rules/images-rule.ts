/**
 * The "images" rule: which registries and repositories a node may pull and
 * run from, and whether images must be pinned.
 */
import { z } from 'zod';
import { compileImagePattern, type ImagePattern } from '../images/image-pattern.js';
import { cachingReferenceParser, type ImageName, type ParsedImageReference } from '../images/image-reference.js';
import type { PolicySubject, RuleChecks, Violation } from '../types.js';

/** Compiled while the policy file is validated, so a bad pattern is reported at its place in the file. */
const imagePattern = z.string().transform((source, ctx): ImagePattern => {
  const compiled = compileImagePattern(source);
  if (compiled.ok) return compiled.pattern;
  ctx.addIssue({ code: 'custom', message: compiled.reason, input: source });
  return z.NEVER;
});

/** The fields only an images rule has; the policy file's rule schema adds the shared ones through `.shape`. */
export const imagesRuleSchema = z
  .object({
    /** Left out: any image not denied is allowed. An empty list would read as "none" and act as "any": refused. */
    allowed: z.array(imagePattern).min(1, { message: 'must list at least one pattern; leave it out to allow any image' }).optional(),
    denied: z.array(imagePattern).optional(),
    requireDigest: z.boolean().optional(),
    /** Refuse ":latest", and references with neither tag nor digest (which mean latest). */
    denyLatest: z.boolean().optional(),
  })
  .strict()
  .refine((rule) => rule.allowed !== undefined || rule.denied !== undefined || rule.requireDigest === true || rule.denyLatest === true, {
    message: 'set at least one of allowed, denied, requireDigest or denyLatest',
  });

const IMAGE_METHODS: ReadonlySet<string> = new Set(['PullImage', 'CreateContainer']);

/** Enough for every image a busy node uses; beyond it the oldest answers are parsed again. */
const PARSED_REFERENCES_KEPT = 512;

function deny(check: string, reason: string): Violation {
  return { check, reason, action: 'deny' };
}

/** The names that parse, and why the first that does not. */
function parseNames(texts: readonly string[], parse: (reference: string) => ParsedImageReference): { names: ImageName[]; problem: string | undefined } {
  const names: ImageName[] = [];
  let problem: string | undefined;
  for (const text of texts) {
    const parsed = parse(text);
    if (parsed.kind === 'name') names.push(parsed);
    else problem ??= `image "${text}" is not a valid reference: ${parsed.kind === 'id' ? 'it is an image id, not a name' : parsed.reason}`;
  }
  return { names, problem };
}

function isPinned(name: ImageName): boolean {
  return name.digest !== undefined || (name.tag !== undefined && name.tag !== 'latest');
}

export function imagesRule(settings: z.output<typeof imagesRuleSchema>): RuleChecks {
  const allowed = settings.allowed ?? [];
  const denied = settings.denied ?? [];
  const parse = cachingReferenceParser(PARSED_REFERENCES_KEPT);

  function evaluate(subject: PolicySubject): readonly Violation[] {
    const image = subject.image;
    if (image === undefined) return [];
    if (image.unresolved !== undefined) {
      return [deny('resolve', `image "${image.given}" could not be resolved to a name: ${image.unresolved}`)];
    }
    const { names, problem: parseProblem } = parseNames(image.names, parse);
    if (names.length === 0) {
      return [deny('resolve', parseProblem ?? `image "${image.given}" could not be resolved to a name: no names were given`)];
    }
    const [first] = names;

    const violations: Violation[] = [];
    if (allowed.length > 0 && !names.some((name) => allowed.some((pattern) => pattern.matches(name)))) {
      violations.push(deny('allowed', `image "${first.name}" is not in an allowed registry or repository`));
    }
    for (const name of names) {
      const match = denied.find((pattern) => pattern.matches(name));
      if (match !== undefined) {
        violations.push(deny('denied', `image "${name.name}" matches denied pattern "${match.source}"`));
        break;
      }
    }
    if (settings.requireDigest === true && !names.some((name) => name.digest !== undefined)) {
      violations.push(deny('digest', `image "${first.name}" is not pinned by digest (@sha256:…)`));
    }
    if (settings.denyLatest === true && !names.some(isPinned)) {
      const problem = first.tag === undefined ? 'has no tag, so it means "latest"' : 'uses the "latest" tag';
      violations.push(deny('latest', `image "${first.name}" ${problem}`));
    }
    return violations;
  }

  return { methods: IMAGE_METHODS, evaluate };
}
