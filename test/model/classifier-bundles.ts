import path from "node:path";
import { GraphBuilder } from "../../src/import/onnx/graph.js";
import { saveBundle } from "../../src/model/bundle.js";
import type { ColumnType, MldeploySection } from "../../src/model/types.js";
import { RIDES_INPUTS } from "../../src/rides/index.js";

/**
 * Small real classifier bundles, laid out as imported scikit-learn / XGBoost classifiers are:
 * the label first ([N] string or int64), then "probabilities" ([N, C] double, columns in the
 * order of mldeploy.classes). The ride is "long" when P(long) = sigmoid(2 (trip_distance - 5))
 * is the larger probability, i.e. beyond 5 miles.
 */

export const THRESHOLD_MILES = 5;
/** As scikit-learn orders them (sorted): "long" is column 0. */
export const TEXT_CLASSES = ["long", "short"];
/** Integer classes whose labels differ from their column index, so a mix-up shows. */
export const INT_CLASSES = [3, 7];
export const LABEL = "trip_class";

export interface Expected {
  /** [P(first class), P(second class)]. */
  probabilities: [number, number];
  /** Column of the larger probability (the first on a tie, as ArgMax). */
  index: number;
}

/** What the graphs compute, in JavaScript, for one ride. */
export function expectedFor(distance: number): Expected {
  const long = 1 / (1 + Math.exp(-2 * (distance - THRESHOLD_MILES)));
  const short = 1 - long;
  return { probabilities: [long, short], index: short > long ? 1 : 0 };
}

export type LabelKind = "string" | "int64";

/** The classifier's ONNX graph: one input trip_distance [N] double. */
export function classifierGraph(kind: LabelKind): Uint8Array {
  const g = new GraphBuilder(`ride_class_${kind}`);
  const x = g.input("trip_distance", "DOUBLE");
  const centred = g.op("Sub", [x, g.constant("threshold", "DOUBLE", [], [THRESHOLD_MILES])]);
  const scaled = g.op("Mul", [centred, g.constant("slope", "DOUBLE", [], [2])]);
  const long = g.op("Sigmoid", [scaled]);
  const short = g.op("Sub", [g.constant("one", "DOUBLE", [], [1]), long]);
  const axis = g.constant("axis", "INT64", [1], [1]);
  const table = g.op(
    "Concat",
    [g.op("Unsqueeze", [long, axis]), g.op("Unsqueeze", [short, axis])],
    {
      axis: { int: 1 },
    },
  );
  const index = g.op("ArgMax", [table], { axis: { int: 1 }, keepdims: { int: 0 } });
  const label =
    kind === "string"
      ? g.op(
          "LabelEncoder",
          [index],
          {
            keys_int64s: { ints: [0, 1] },
            values_strings: { strings: TEXT_CLASSES },
            default_string: { string: "" },
          },
          { domain: "ai.onnx.ml" },
        )
      : g.op("Gather", [g.constant("classes", "INT64", [2], INT_CLASSES), index], {
          axis: { int: 0 },
        });
  g.output(label, LABEL, kind === "string" ? "STRING" : "INT64");
  g.output(table, "probabilities", "DOUBLE", ["N", 2]);
  return g.build();
}

/**
 * Saves a classifier bundle under `dir` (request: the ride's three columns, as the ride
 * model's) and returns its path. `section` overrides parts of the mldeploy section.
 */
export async function saveClassifierBundle(
  dir: string,
  kind: LabelKind,
  section: Partial<MldeploySection> = {},
): Promise<string> {
  const bundle = path.join(dir, `ride-class-${kind}`);
  const labelType: ColumnType = kind === "string" ? "string" : "long";
  await saveBundle(bundle, {
    onnx: classifierGraph(kind),
    signature: {
      inputs: [{ name: "trip_distance", type: "double" }],
      outputs: [{ name: LABEL, type: labelType }],
    },
    mldeploy: {
      format_version: 1,
      inputs: RIDES_INPUTS,
      features: { trip_distance: { column: "trip_distance" } },
      output: LABEL,
      classes: kind === "string" ? TEXT_CLASSES : INT_CLASSES,
      ...section,
    },
    inputExample: [{ PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 }],
    runId: `classifier${kind}run`,
  });
  return bundle;
}

/** Rides on both sides of the threshold (the ride model's sample ones and more). */
export const CLASS_RIDES = [
  { PULocationID: 10, DOLocationID: 50, trip_distance: 40 },
  { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
  { PULocationID: 74, DOLocationID: 75, trip_distance: 1.2 },
  { PULocationID: 1, DOLocationID: 265, trip_distance: 0 },
  { PULocationID: 42, DOLocationID: 43, trip_distance: 5.5 },
  { PULocationID: 7, DOLocationID: 8, trip_distance: 12.25 },
];

export function textLabel(distance: number): string {
  return TEXT_CLASSES[expectedFor(distance).index];
}

export function intLabel(distance: number): number {
  return INT_CLASSES[expectedFor(distance).index];
}
