// Learning-rate schedules, a pure function of the step (so a resumed run follows the same one):
// linear warm-up, then constant, cosine to zero, or step (x0.1 at half and at three quarters).
export type Schedule = "cosine" | "step" | "const";
export const schedules: readonly Schedule[] = ["cosine", "step", "const"];

export interface ScheduleOptions {
  readonly lr: number;
  readonly schedule: Schedule;
  readonly totalSteps: number;
  /** Steps of linear warm-up from lr / warmup to lr. */
  readonly warmup: number;
}

export function learningRate(step: number, o: ScheduleOptions): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  const span = Math.max(1, o.totalSteps - o.warmup);
  const t = Math.min(1, (step - o.warmup) / span);
  switch (o.schedule) {
    case "const":
      return o.lr;
    case "cosine":
      return 0.5 * o.lr * (1 + Math.cos(Math.PI * t));
    case "step":
      return o.lr * (t >= 0.75 ? 0.01 : t >= 0.5 ? 0.1 : 1);
  }
}
