import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Bundles the web UI (src/ui/app, Preact + TypeScript) into dist/ui/static: index.html,
 * app.js and app.css, everything the page needs, so that it works with no network. Stylesheets
 * are imported by the modules that use them (`import "./runs.css"`); esbuild gathers them all,
 * uPlot's included, into app.css.
 * Run by `npm run build` after tsc, as dist/ui/build.js.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const source = path.join(root, "src", "ui", "app");
const out = path.join(root, "dist", "ui", "static");

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(source, "main.tsx")],
  outfile: path.join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(path.join(source, "index.html"), path.join(out, "index.html"));
