import { ImportError } from "../types.js";

/**
 * What an objective does to the summed tree margins (PredTransform) and to base_score
 * (ProbToMargin), per XGBoost's src/objective/regression_loss.h, regression_obj.cu and
 * multiclass_obj.cu (1.7–3.x). All in float32, as XGBoost computes.
 */
export type Transform = "identity" | "sigmoid" | "exp" | "softmax";

export interface Objective {
  transform: Transform;
  /** A classifier's objective (labels and class probabilities). */
  classifier: boolean;
}

const OBJECTIVES: Record<string, Objective> = {
  "reg:squarederror": { transform: "identity", classifier: false },
  // The name XGBoost < 1.0 used for squarederror, still registered as an alias.
  "reg:linear": { transform: "identity", classifier: false },
  "reg:squaredlogerror": { transform: "identity", classifier: false },
  "reg:pseudohubererror": { transform: "identity", classifier: false },
  "reg:absoluteerror": { transform: "identity", classifier: false },
  "reg:logistic": { transform: "sigmoid", classifier: false },
  "reg:gamma": { transform: "exp", classifier: false },
  "reg:tweedie": { transform: "exp", classifier: false },
  "count:poisson": { transform: "exp", classifier: false },
  "binary:logistic": { transform: "sigmoid", classifier: true },
  // Margins as they are: Booster.predict returns the raw score.
  "binary:logitraw": { transform: "identity", classifier: true },
  "multi:softprob": { transform: "softmax", classifier: true },
  "multi:softmax": { transform: "softmax", classifier: true },
};

export const SUPPORTED_OBJECTIVES = Object.keys(OBJECTIVES);

export function objectiveOf(name: string, source: string): Objective {
  const objective = Object.hasOwn(OBJECTIVES, name) ? OBJECTIVES[name] : undefined;
  if (!objective) {
    throw new ImportError(
      `${source}: objective "${name}" is not supported (supported: ${SUPPORTED_OBJECTIVES.join(", ")})`,
    );
  }
  return objective;
}

const f = Math.fround;

/**
 * base_score (output space) → margin, as the objective's ProbToMargin: logistic objectives
 * -logf(1/b - 1), log-link objectives logf(b); binary:logitraw, squared error and the
 * multi-class objectives keep it.
 */
export function probToMargin(objective: string, baseScore: number): number {
  const b = f(baseScore);
  if (objective === "reg:logistic" || objective === "binary:logistic") {
    return f(-Math.log(f(f(1 / b) - 1)));
  }
  if (objectiveOf(objective, "model").transform === "exp") return f(Math.log(b));
  return b;
}

/** One margin → output space (used for the base_score of models saved before XGBoost 1.0). */
export function predTransform(objective: string, margin: number): number {
  switch (OBJECTIVES[objective]?.transform) {
    case "sigmoid":
      return f(1 / (1 + Math.exp(-margin)));
    case "exp":
      return f(Math.exp(margin));
    default:
      return margin;
  }
}
