import type { LabelSelector } from "./types.js";

/**
 * Whether `name` matches a glob: `*` stands for any run of characters (also none), `?` for
 * exactly one; everything else is literal. Names in Kubernetes hold no `*` or `?` themselves.
 */
export function matchesGlob(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === "?" || (c !== undefined && c !== "*" && c === name[n])) {
      p += 1;
      n += 1;
    } else if (c === "*") {
      starAt = p;
      resumeAt = n;
      p += 1;
    } else if (starAt >= 0) {
      // Let the last `*` swallow one more character and try again from there.
      p = starAt + 1;
      resumeAt += 1;
      n = resumeAt;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p += 1;
  return p === pattern.length;
}

export function matchesAnyGlob(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) => matchesGlob(pattern, name));
}

/** metav1.LabelSelector semantics: every matchLabels entry and every expression must hold. */
export function matchesSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  const has = (key: string): boolean => Object.prototype.hasOwnProperty.call(labels, key);
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (!has(key) || labels[key] !== value) return false;
  }
  return selector.matchExpressions.every(({ key, operator, values }) => {
    switch (operator) {
      case "In":
        return has(key) && values.includes(labels[key] ?? "");
      case "NotIn":
        return !has(key) || !values.includes(labels[key] ?? "");
      case "Exists":
        return has(key);
      case "DoesNotExist":
        return !has(key);
    }
  });
}
