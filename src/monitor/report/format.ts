/**
 * How the report writes numbers and times: the same value always reads the same way, and an
 * absent value says "no data" rather than 0 or NaN.
 */
import type { DriftMethod } from "../drift.js";

export const NO_DATA = "no data";
/** A cell that does not apply to this kind of column (e.g. new categories of a number). */
export const NOT_APPLICABLE = "—";

/** Thousands separators on the integer part of a plain decimal string. */
function group(digits: string): string {
  const [whole, fraction] = digits.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

function nonFinite(value: number): string | undefined {
  if (Number.isNaN(value)) return "n/a";
  if (value === Infinity) return "∞";
  if (value === -Infinity) return "-∞";
  return undefined;
}

/** A count: 1234567 → "1,234,567". */
export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined) return NO_DATA;
  const odd = nonFinite(value);
  if (odd !== undefined) return odd;
  const rounded = Math.round(value);
  return (rounded < 0 ? "-" : "") + group(String(Math.abs(rounded)));
}

/** Mantissa without trailing zeros: 3.20e-12 → "3.2e-12". */
function exponential(value: number, digits: number): string {
  const [mantissa, exponent] = value.toExponential(Math.max(0, digits - 1)).split("e");
  const trimmed = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
  return `${trimmed}e${exponent.replace("+", "")}`;
}

/**
 * A measurement with `digits` significant digits: 0.123456 → "0.1235", 12345.6 → "12,346",
 * 0.0000123 → "1.23e-5". Integers up to 15 digits are written whole.
 */
export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return NO_DATA;
  const odd = nonFinite(value);
  if (odd !== undefined) return odd;
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude < 1e-4 || magnitude >= 1e15) return exponential(value, digits);
  if (magnitude >= 10 ** digits) return formatCount(value);
  const text = String(Number(value.toPrecision(digits)));
  // String() switches to exponents below 1e-6 only, which the branch above already took.
  return (value < 0 ? "-" : "") + group(text.replace("-", ""));
}

/** A p-value: scientific below 0.001 so that 1e-12 and 1e-3 stay distinguishable. */
export function formatPValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return NO_DATA;
  const odd = nonFinite(value);
  if (odd !== undefined) return odd;
  if (value === 0) return "0";
  if (Math.abs(value) < 1e-3) return exponential(value, 2);
  return String(Number(value.toPrecision(3)));
}

/** A distance (Wasserstein normed, Jensen–Shannon): 3 significant digits. */
export function formatDistance(value: number | null | undefined): string {
  return formatNumber(value, 3);
}

export function formatScore(value: number, kind: "p_value" | "distance"): string {
  return kind === "p_value" ? formatPValue(value) : formatDistance(value);
}

/** A share in [0, 1] as a percentage: 0.6 → "60%", 0.01234 → "1.23%", 1e-7 → "<0.01%". */
export function formatShare(value: number | null | undefined): string {
  if (value === null || value === undefined) return NO_DATA;
  const odd = nonFinite(value);
  if (odd !== undefined) return odd;
  const percent = value * 100;
  if (percent === 0) return "0%";
  if (Math.abs(percent) < 0.01) return percent > 0 ? "<0.01%" : ">-0.01%";
  return `${Number(percent.toPrecision(3))}%`;
}

/** A signed measurement, e.g. a bias: "+1.23" / "-0.5". */
export function formatSigned(value: number | null | undefined, digits = 4): string {
  const text = formatNumber(value, digits);
  return typeof value === "number" && value > 0 && Number.isFinite(value) ? `+${text}` : text;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** An ISO time as "2026-12-07 09:00 UTC" (seconds only when not zero); other text as given. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const seconds = date.getUTCSeconds();
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}${seconds ? `:${pad(seconds)}` : ""}`;
  return `${day} ${time} UTC`;
}

/** A span of time in the largest whole units: "1 h", "7 d", "90 min", "1 d 6 h". */
export function formatSpan(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.round(ms / 1000)} s`;
  if (minutes < 120 && minutes % 60 !== 0) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const restMinutes = minutes % 60;
  if (hours < 48) return restMinutes ? `${hours} h ${restMinutes} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  const restHours = hours % 24;
  return restHours ? `${days} d ${restHours} h` : `${days} d`;
}

/** "2026-12-06 09:00 → 2026-12-07 09:00 UTC" plus its length ("24 h"). */
export function formatWindow(from: string, to: string): { range: string; span: string } {
  const span = formatSpan(new Date(to).getTime() - new Date(from).getTime());
  const start = formatTime(from);
  return {
    range: `${start.endsWith(" UTC") ? start.slice(0, -4) : start} → ${formatTime(to)}`,
    span,
  };
}

/** "1 row", "2 rows": `noun` is the singular, `plural` when it is not noun + "s". */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${formatCount(count)} ${count === 1 ? noun : pluralNoun}`;
}

/** Evidently's stattest names, as people read them. */
export const METHOD_LABELS: Record<DriftMethod, string> = {
  ks: "Kolmogorov–Smirnov",
  wasserstein: "Wasserstein (normed)",
  chisquare: "Chi-squared",
  jensenshannon: "Jensen–Shannon",
  z: "Z-test (proportions)",
};

export const SCORE_KIND_LABELS: Record<"p_value" | "distance", string> = {
  p_value: "p-value",
  distance: "distance",
};

/** The drift rule of a test, e.g. "p ≤ 0.05" (KS) or "≥ 0.1" (distances). */
export function driftRule(method: DriftMethod, threshold: number): string {
  if (method === "ks") return `p ≤ ${formatPValue(threshold)}`;
  if (method === "chisquare" || method === "z") return `p < ${formatPValue(threshold)}`;
  return `≥ ${formatDistance(threshold)}`;
}
