/** Polls `condition` (sync or async) until it holds; throws naming `what` when `timeoutMs` passes first. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what = 'the condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
