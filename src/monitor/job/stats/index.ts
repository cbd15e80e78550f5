/** The statistics of `mldeploy monitor`, computed in DuckDB over the window tables. */
export { ALL_VERSIONS, computeVersionReport, DEFAULT_PROBABILITIES } from "./version-report.js";
export type { VersionReportOptions } from "./version-report.js";
export { HISTOGRAM_BINS, histogramEdges } from "./numerical.js";
export { HISTOGRAM_CATEGORIES } from "./categorical.js";
