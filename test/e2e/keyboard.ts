// Driving the web console with the keyboard alone (issue 14): Tab / Shift+Tab until the focused
// control is the one wanted, by its accessible name as a person reads it, and checks that the
// focus is visible. No clicks and no focus() calls: whatever these helpers cannot reach, a
// keyboard user cannot either.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/** Presses past every control of a long page (the file browser lists 500 rows) before giving up. */
const MAX_PRESSES = 1200;

/**
 * The focused element's name: its aria-label, else its label's own text (the text before a
 * wrapped control, or the whole label's for a check box written before its text), else its text.
 * Run in the page as a string (the test's tsconfig has no DOM types).
 */
const FOCUSED_NAME = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return '';
  const aria = el.getAttribute('aria-label');
  if (aria) return aria.trim();
  const label = el.labels && el.labels[0];
  if (label) {
    const first = label.firstChild;
    return ((first && first.nodeType === 3 && first.textContent.trim() !== '') ? first.textContent : label.textContent).trim();
  }
  return (el.textContent || '').trim();
})()`;

export async function focusedName(page: Page): Promise<string> {
  return page.evaluate<string>(FOCUSED_NAME);
}

function matches(name: string, want: string | RegExp): boolean {
  return typeof want === 'string' ? name === want : want.test(name);
}

/** Presses Tab (or Shift+Tab with `back`) until the focused control is named `want`. */
export async function tabTo(page: Page, want: string | RegExp, opts: { back?: boolean } = {}): Promise<void> {
  const key = opts.back ? 'Shift+Tab' : 'Tab';
  const seen: string[] = [];
  for (let i = 0; i < MAX_PRESSES; i++) {
    await page.keyboard.press(key);
    const name = await focusedName(page);
    if (matches(name, want)) return;
    if (seen.length < 60) seen.push(name);
  }
  assert.fail(`${key} never reached ${String(want)}; passed: ${seen.map((s) => JSON.stringify(s.slice(0, 40))).join(', ')}`);
}

/** Tab to the control named `want` and press `key` on it (Enter by default). */
export async function activate(page: Page, want: string | RegExp, key = 'Enter', opts: { back?: boolean } = {}): Promise<void> {
  await tabTo(page, want, opts);
  await page.keyboard.press(key);
}

/** Tab to a text field and replace what it holds with `text`. */
export async function typeInto(page: Page, label: string, text: string): Promise<void> {
  await tabTo(page, label);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text);
}

/** The focused element draws an outline (or a box shadow) a person can see. */
export async function assertFocusVisible(page: Page, what: string): Promise<void> {
  const style = await page.evaluate<{ outline: string; width: string; shadow: string; tag: string }>(`(() => {
    const el = document.activeElement;
    const s = getComputedStyle(el);
    return { outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow, tag: el.tagName };
  })()`);
  assert.ok(style.tag !== 'BODY', `${what}: the focus fell to the page's body`);
  assert.ok((style.outline !== 'none' && parseFloat(style.width) > 0) || style.shadow !== 'none', `${what}: the focused ${style.tag} shows no outline (${JSON.stringify(style)})`);
}
