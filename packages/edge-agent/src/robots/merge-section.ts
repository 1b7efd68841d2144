/**
 * The usual `RobotPlugin.mergeConfig`: the flags' section over the file's, key by key, and one level into nested
 * objects (`serial`, `cameras`, ...) so a flag changes one field without dropping the file's others. Arrays and
 * other values are replaced whole; `undefined` in the flags leaves the file's value.
 */
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

export function mergeSection(
  file: Readonly<Record<string, unknown>>,
  flags: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.fromEntries(
    Object.entries(file).filter(([, v]) => v !== undefined),
  );
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? { ...prev, ...v } : v;
  }
  return out;
}

/** `o` without its undefined-valued keys ({} for undefined): a partial section that never overrides with undefined. */
export function defined<T extends object>(o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
