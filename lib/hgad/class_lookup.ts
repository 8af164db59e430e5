// Naming a class of a model, the same way in the API and on the command line:
// a string is a class name first (BTAD's classes are "01", "02", ...); "#N"
// is always the class id N; a plain number string is an id only when no class
// bears that name. A number (API only) is an id.
import { expectedRange, expectedType } from '../errors';

export type ClassLookup = { id: number } | { error: 'id out of range' | 'no such class'; id?: undefined };

/** The class `value` names among `names` (see the top of this file), or why none. */
export function lookupClass(names: readonly string[], value: string | number): ClassLookup {
  const K = names.length;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value < K ? { id: value } : { error: 'id out of range' };
  const byName = names.indexOf(value);
  if (byName >= 0) return { id: byName };
  const m = /^#?(\d+)$/.exec(value.trim());
  if (m) {
    const id = Number(m[1]);
    return id < K ? { id } : { error: 'id out of range' };
  }
  return { error: 'no such class' };
}

/** The model's class names for a message: the first 12, quoted. */
export function shownClasses(names: readonly string[]): string {
  return names.slice(0, 12).map((n) => JSON.stringify(n)).join(', ') + (names.length > 12 ? ', ...' : '');
}

/** lookupClass, or a RangeError/TypeError naming `name` and the model's classes. */
export function classIdOf(names: readonly string[], value: string | number, name = 'class'): number {
  if (typeof value !== 'string' && typeof value !== 'number') throw expectedType('a class name, "#id" or an id', name, value);
  const r = lookupClass(names, value);
  if (r.id !== undefined) return r.id;
  if (r.error === 'id out of range') throw expectedRange(`a class id in 0..${names.length - 1} (or a class of the model: ${shownClasses(names)})`, name, value);
  throw expectedRange(`a class of the model (${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''})`, name, value);
}
