/**
 * The Compare runs page's state, all of it in the address (`#/compare?runs=a,b&metric=loss&…`)
 * so that a comparison can be shared and survives a reload. Keys of params and metrics are
 * namespaced as in MLflow's search syntax: `params.alpha`, `metrics.valid_rmse`.
 */
import { href, type Location } from "./router.js";

export interface CompareState {
  /** Run ids, in the order given, without repeats. */
  runs: string[];
  /** The metric whose histories are overlaid (a bare metric key). */
  metric?: string;
  /** Scatter axes: namespaced keys. */
  x?: string;
  y?: string;
  /** Parallel-coordinate axes (namespaced keys); undefined = the default choice. */
  axes?: string[];
  /** Show only the rows whose values differ. */
  diff: boolean;
}

/** `axes=` when the user unchecked every axis (an empty value would read as "the default"). */
const NO_AXES = "none";

function list(value: string | null): string[] {
  if (value === null) return [];
  return [
    ...new Set(
      value
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part !== ""),
    ),
  ];
}

export function readState(location: Location): CompareState {
  const query = location.query;
  const axes = query.get("axes");
  return {
    runs: list(query.get("runs")),
    metric: query.get("metric") || undefined,
    x: query.get("x") || undefined,
    y: query.get("y") || undefined,
    axes: axes === null ? undefined : axes === NO_AXES ? [] : list(axes),
    diff: query.get("diff") === "1",
  };
}

export function compareHref(state: CompareState): string {
  return href("/compare", {
    runs: state.runs.join(","),
    metric: state.metric,
    x: state.x,
    y: state.y,
    axes:
      state.axes === undefined
        ? undefined
        : state.axes.length === 0
          ? NO_AXES
          : state.axes.join(","),
    diff: state.diff ? "1" : undefined,
  });
}
