/**
 * Custom rules in CEL, as in Kubernetes ValidatingAdmissionPolicy: an
 * expression over the decoded request, the method and the pod that must be
 * true for the call to go on. Expressions are parsed and type-checked when
 * the policy loads; a call only runs the compiled program.
 */
import { Environment, EvaluationError } from '@marcbachmann/cel-js';
import { z } from 'zod';
import type { PolicySubject, RuleChecks, Violation } from '../types.js';

/** The calls a CEL rule can judge; by default it judges all of them. */
export const CEL_METHODS = [
  'RunPodSandbox',
  'PullImage',
  'CreateContainer',
  'UpdateContainerResources',
  'UpdatePodSandboxResources',
] as const;

/**
 * Parse-time bounds, well above any hand-written policy expression and well
 * below what could make parsing or the library's recursive evaluator run
 * away. (The library has no run-time cost budget; the policy file is trusted.)
 */
const LIMITS = { maxAstNodes: 4096, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 };

/** Made once: the library documents environments as costly to build. */
const environment = new Environment({ limits: LIMITS })
  .registerVariable('request', 'map', { description: 'The decoded request, snake_case fields as in the CRI proto' })
  .registerVariable('method', 'string', { description: 'The CRI method, e.g. "CreateContainer"' })
  // A schema rather than a plain map, so a misspelt pod field fails when the policy loads.
  .registerVariable({
    name: 'pod',
    description: 'The pod the call concerns; empty strings and no labels when unknown',
    schema: { namespace: 'string', name: 'string', uid: 'string', labels: 'map<string, string>' },
  });

/** A parsed and type-checked expression. */
export interface CelExpression {
  readonly source: string;
  /** Whether the expression reads `request` (only then is the whole request decoded for it). */
  readonly readsRequest: boolean;
  /** The expression's value for one call; throws the library's EvaluationError when it fails. */
  evaluate(subject: PolicySubject): unknown;
}

/** Throws the library's ParseError or TypeError, or an Error when the result cannot be a bool. */
function compile(source: string): CelExpression {
  const program = environment.parse(source);
  const checked = program.check();
  if (!checked.valid) throw checked.error ?? new Error('does not type-check');
  // dyn (e.g. a field of `request`) may still be a bool: evaluation checks.
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`must evaluate to bool, not ${checked.type}`);
  // Decoding and converting the whole request costs more than judging it: done only for expressions that read it.
  if (!mentions(program.ast, 'request')) return { source, readsRequest: false, evaluate: ({ method, pod }): unknown => program({ request: NO_REQUEST, method, pod }) };
  return {
    source,
    readsRequest: true,
    evaluate: ({ request, method, pod }): unknown => program({ request, method, pod }),
  };
}

const NO_REQUEST = Object.freeze({});

/** Whether the expression names the variable anywhere (a macro's own variable of that name counts too: erring on reading it). */
function mentions(node: unknown, variable: string): boolean {
  if (Array.isArray(node)) return node.some((child) => mentions(child, variable));
  if (typeof node !== 'object' || node === null) return false;
  const { op, args } = node as { op?: unknown; args?: unknown };
  if (op === 'id') return args === variable;
  return mentions(args, variable);
}

const expressionSchema = z
  .string()
  .min(1)
  .transform((source, context) => {
    try {
      return compile(source);
    } catch (error) {
      context.issues.push({ code: 'custom', message: (error as Error).message, input: source });
      return z.NEVER;
    }
  });

/** The fields of a `kind: cel` rule besides those every rule has. */
export const celRuleSchema = z
  .strictObject({
    /** Must be true for the call to go on. */
    expression: expressionSchema,
    /** The violation's reason when the expression is false. */
    message: z.string().min(1).optional(),
    methods: z.array(z.enum(CEL_METHODS)).min(1, { message: 'must list at least one method; leave it out for all' }).optional(),
  })
  // Each method's request has its own shape: an expression over `request` written for one would fail (and deny) on the others.
  .refine((rule) => rule.methods !== undefined || !rule.expression.readsRequest, {
    message: 'an expression that reads request must list the methods it judges (each has its own request shape)',
    path: ['methods'],
  });

export type CelRuleSettings = z.output<typeof celRuleSchema>;

/** A CEL value's type name, for saying what came back instead of a bool. */
function celType(value: unknown): string {
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'map' : typeof value;
}

/** Fails closed, as ValidatingAdmissionPolicy's default failurePolicy (Fail) does. */
function failed(expression: CelExpression, why: string): Violation {
  return { check: '', action: 'deny', reason: `expression "${expression.source}" failed: ${why}` };
}

/** One `kind: cel` rule's checks: a deny when its expression is false, or fails, for a call. */
export function celRule({ expression, message, methods }: CelRuleSettings): RuleChecks {
  // The rule's name alone identifies a CEL rule, so the check part is empty.
  const denied: Violation = { check: '', action: 'deny', reason: message ?? `expression "${expression.source}" is false` };
  return {
    methods: new Set(methods ?? CEL_METHODS),
    readsRequest: expression.readsRequest,
    evaluate(subject) {
      let value: unknown;
      try {
        value = expression.evaluate(subject);
      } catch (error) {
        // The summary is the one-line cause; the full message adds a source excerpt over several lines.
        return [failed(expression, error instanceof EvaluationError ? error.summary : String(error))];
      }
      if (value === true) return [];
      if (value === false) return [denied];
      return [failed(expression, `it gave ${celType(value)}, not bool`)];
    },
  };
}
