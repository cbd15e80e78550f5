/**
 * The HTML report of one monitoring pass (`report.html` of a run in experiment `monitoring`):
 * one self-contained document, inline CSS and SVG, readable without script, offline, printed
 * and on a phone.
 */
import { createHash } from "node:crypto";
import type { MonitorResult } from "../job/types.js";
import { formatTime } from "./format.js";
import { markup, raw } from "./html.js";
import { dataSection, pageFooter, pageHeader, summarySection } from "./page.js";
import { SCRIPT, STYLE } from "./style.js";
import { versionSection } from "./version.js";

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/**
 * The policy lets exactly this document's own style and script run and loads nothing: a
 * report opened from an artifact store never calls out, even if a string in it were crafted
 * to (they are escaped anyway).
 */
const POLICY = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

export function renderReport(result: MonitorResult): string {
  const ids = result.versions.map((_, i) => `v${i}`);
  const title = `Monitoring report: ${result.model}, ${formatTime(result.window.to)}`;
  // Style and script go in exactly as hashed for the policy above.
  const document = markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="${POLICY}">
<meta name="generator" content="mldeploy monitor">
<title>${title}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
${pageHeader(result)}
<main>
${summarySection(result, ids)}
${dataSection(result)}
${result.versions.map((v, i) => versionSection(v, ids[i]))}
</main>
${pageFooter(result)}
<script>${raw(SCRIPT)}</script>
</body>
</html>
`;
  return document.value;
}
