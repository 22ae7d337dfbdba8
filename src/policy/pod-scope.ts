/**
 * Which pods a rule applies to, selected the Kubernetes way: namespaces and a
 * label selector. Selectors are compiled once into predicates, since every
 * judged call asks.
 */
import { z } from 'zod';
import type { PodScope } from './types.js';
import type { PodIdentity } from '../cri/pod-identity.js';

const labelExpressionSchema = z
  .object({
    key: z.string().min(1),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((expression, context) => {
    const hasValues = expression.values !== undefined && expression.values.length > 0;
    const needsValues = expression.operator === 'In' || expression.operator === 'NotIn';
    if (needsValues && !hasValues) {
      context.addIssue({ code: 'custom', path: ['values'], message: `operator ${expression.operator} needs a non-empty values list` });
    }
    if (!needsValues && expression.values !== undefined) {
      context.addIssue({ code: 'custom', path: ['values'], message: `operator ${expression.operator} takes no values` });
    }
  });

export const podSelectorSchema = z
  .object({
    namespaces: z
      .array(z.string().min(1))
      .min(1, { message: 'must list at least one namespace; leave it out to select every namespace' })
      .optional(),
    podSelector: z
      .object({
        matchLabels: z.record(z.string(), z.string()).optional(),
        matchExpressions: z.array(labelExpressionSchema).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type SelectorConfig = z.output<typeof podSelectorSchema>;
type LabelExpression = z.output<typeof labelExpressionSchema>;

type PodPredicate = (pod: PodIdentity) => boolean;

function compileExpression({ key, operator, values = [] }: LabelExpression): PodPredicate {
  const allowed = new Set(values);
  const has = (pod: PodIdentity): boolean => Object.hasOwn(pod.labels, key);
  switch (operator) {
    case 'In':
      return (pod) => has(pod) && allowed.has(pod.labels[key] ?? '');
    case 'NotIn':
      return (pod) => !has(pod) || !allowed.has(pod.labels[key] ?? '');
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return (pod) => !has(pod);
  }
}

/** Both parts must hold; an unknown pod (empty namespace) is in no namespace list. */
function compileSelector(selector: SelectorConfig): PodPredicate {
  const tests: PodPredicate[] = [];
  if (selector.namespaces !== undefined) {
    const namespaces = new Set(selector.namespaces);
    tests.push((pod) => pod.namespace !== '' && namespaces.has(pod.namespace));
  }
  for (const [key, value] of Object.entries(selector.podSelector?.matchLabels ?? {})) {
    tests.push((pod) => Object.hasOwn(pod.labels, key) && pod.labels[key] === value);
  }
  for (const expression of selector.podSelector?.matchExpressions ?? []) tests.push(compileExpression(expression));
  return (pod) => tests.every((test) => test(pod));
}

/**
 * The pods in `match` (left out: every pod) and in none of `exempt` (the
 * policy's global exemptions and the rule's own together).
 */
export function compileScope(match: SelectorConfig | undefined, exempt: readonly SelectorConfig[]): PodScope {
  const matches = match === undefined ? () => true : compileSelector(match);
  const exemptions = exempt.map(compileSelector);
  return { applies: (pod) => matches(pod) && !exemptions.some((isExempt) => isExempt(pod)) };
}
