import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(full);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [full] : [];
  });
}

/**
 * Child processes (cluster workers, a served process to SIGTERM) cannot run TypeScript, and
 * `dist/` may be stale or absent. This transpiles src/ (no type check: tsc does that) into a
 * content-addressed folder under node_modules/.cache, where bare imports still resolve to the
 * repository's node_modules, and returns that folder (the equivalent of dist/).
 */
export function compiledSrc(): string {
  const src = path.join(repo, "src");
  const files = tsFiles(src).sort();
  const hash = createHash("sha256");
  const sources = files.map((file) => {
    const text = readFileSync(file, "utf8");
    hash.update(file).update(text);
    return { file, text };
  });
  const out = path.join(repo, "node_modules", ".cache", "mldeploy-serve-test", hash.digest("hex").slice(0, 16));
  for (const { file, text } of sources) {
    const target = path.join(out, path.relative(src, file)).replace(/\.ts$/, ".js");
    mkdirSync(path.dirname(target), { recursive: true });
    const { outputText } = ts.transpileModule(text, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
    });
    writeFileSync(target, outputText);
  }
  return out;
}
