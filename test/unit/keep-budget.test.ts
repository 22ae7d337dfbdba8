import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { KeepBudget } from '../../src/relay/keep-budget.js';

describe('KeepBudget', () => {
  it('lends bytes up to its limit, and no further', () => {
    const budget = new KeepBudget(100);
    assert.equal(budget.tryTake(60), true);
    assert.equal(budget.tryTake(41), false, 'one byte over the limit');
    assert.equal(budget.used, 60, 'a refusal takes nothing');
    assert.equal(budget.tryTake(40), true, 'exactly up to the limit');
    assert.equal(budget.tryTake(1), false);
    assert.equal(budget.tryTake(0), true, 'an empty message always fits');
  });

  it('lends again what is given back', () => {
    const budget = new KeepBudget(100);
    assert.ok(budget.tryTake(100));
    budget.give(70);
    assert.equal(budget.used, 30);
    assert.equal(budget.tryTake(70), true);
    budget.give(100);
    assert.equal(budget.used, 0);
  });

  it('refuses to take back more than it lent', () => {
    const budget = new KeepBudget(100);
    assert.ok(budget.tryTake(10));
    assert.throws(() => budget.give(11), /11 bytes given back to a keep budget that has lent only 10/);
    assert.equal(budget.used, 10);
  });
});
