import { z } from "zod";

/**
 * The settings every mode that loads a model takes for sources imported from the Python world
 * (serve, batch, stream, and predict/info on the command line): the --feature declarations and
 * the answer's name. A config file gives `feature` as a list; the MLDEPLOY_FEATURE variable one
 * declaration per line (a declaration may hold commas inside its strings).
 */
export const importSettingsShape = {
  feature: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value): string[] =>
      (typeof value === "string" ? value.split("\n") : (value ?? []))
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ""),
    )
    .describe(
      'For a model imported from Python (pickle, joblib, MLflow sklearn/xgboost, XGBoost file): a model input built from request columns, NAME=EXPR with columns, "strings" and + (repeatable), e.g. PU_DO=PULocationID + "_" + DOLocationID',
    ),
  output: z
    .string()
    .min(1)
    .optional()
    .describe(
      'For a model imported from Python: the name its prediction is answered under (e.g. duration); default the MLflow signature\'s output, else "prediction"',
    ),
};

/** The import settings as a servableBundle caller passes them. */
export interface ImportSettings {
  feature: string[];
  output?: string;
}
