// The binary search the front end, the language service and the planner share.

/** How many of the indices 0..n-1 come before the point where `before` stops holding (it
 * holds for a prefix of them and no other). */
export function partitionPoint(n: number, before: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
