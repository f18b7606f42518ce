/**
 * JSON Pointer (RFC 6901) syntax: "" is the whole document, every other pointer is a sequence of
 * "/"-prefixed tokens in which "~1" stands for "/" and "~0" for "~". Syntax errors return
 * undefined so that each caller can report them in its own terms.
 */

export function parsePointer(pointer: string): string[] | undefined {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return undefined;
  const tokens = pointer.slice(1).split('/');
  // "~" may only start "~0" or "~1"; anything else is not a pointer at all.
  if (tokens.some((t) => /~(?![01])/.test(t))) return undefined;
  // Unescape ~1 before ~0, so that "~01" becomes "~1" and not "/".
  return tokens.map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function formatPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
