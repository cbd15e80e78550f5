/** Drift and summary statistics for `mldeploy monitor` (pure functions, no I/O). */
export * from "./drift.js";
export {
  chisquare,
  jensenShannon,
  ks2samp,
  ks2sampFromEcdf,
  quantilesSorted,
  wassersteinDistance,
} from "./stats.js";
export type { KsResult, TestResult } from "./stats.js";
export { chi2Sf, gammaQ, logGamma, normalCdf } from "./special.js";
export { kstwoSf, smirnov } from "./kolmogorov.js";
