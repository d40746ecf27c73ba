/**
 * A value read from a JSON artifact, written into a message or a page: a string as it is, an
 * object or array as JSON (String() would print `[object Object]`), anything else as String()
 * writes it.
 */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  if (typeof v === 'function' || typeof v === 'symbol') return typeof v;
  return String(v);
}
