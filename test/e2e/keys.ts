// Keyboard-only moves for the browser tests: Tab (or Shift+Tab) until a named control has the focus.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/** Presses Tab (Shift+Tab with `back`) until the focused element is the one named `name` (its text or aria-label; at most 40 times). */
export async function tabTo(page: Page, name: string, opts: { back?: boolean } = {}): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press(opts.back ? 'Shift+Tab' : 'Tab');
    const focused = await page.evaluate<string[]>("[(document.activeElement?.textContent ?? '').trim(), document.activeElement?.getAttribute('aria-label') ?? '']");
    if (focused.includes(name)) return;
  }
  assert.fail(`Tab never reached ${name}`);
}
