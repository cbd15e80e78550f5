import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import axe from "axe-core";
import { chromium, type Browser, type Page } from "playwright-core";
import { CLI } from "../helpers/cli.js";
import { tempDir } from "../helpers/temp.js";

/** Debian's chromium (`apt install chromium`): the UI tests drive it through playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping the web UI tests: no ${CHROMIUM} (apt install chromium)`);

export const UI_TOKEN = "ui-test-token";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export interface UiServer {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stderr so far. */
  stderr: () => string;
  stop: () => Promise<void>;
}

/**
 * `mldeploy ui --port 0` (built CLI) over `dataDir`, once it logs its URL. The token is
 * UI_TOKEN unless `env` says otherwise; `args` are appended to the command line.
 */
export async function startUi(
  dataDir: string,
  options: { args?: string[]; env?: Record<string, string> } = {},
): Promise<UiServer> {
  const child = spawn(
    process.execPath,
    [CLI, "ui", "--port", "0", "--data-dir", dataDir, ...(options.args ?? [])],
    {
      cwd: tempDir("mldeploy-ui-cwd-"),
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        MLDEPLOY_REGISTRY_TOKEN: UI_TOKEN,
        MLDEPLOY_LOG_LEVEL: "info",
        MLDEPLOY_LOG_FORMAT: "json",
        ...options.env,
      },
    },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL logged: ${stderr}`)), 30_000);
    child.on("close", (code) => reject(new Error(`mldeploy ui exited ${code}: ${stderr}`)));
    let buffered = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const match = /"url":"(http:[^"]+)"/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    child,
    url,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Enters the token in the page's prompt (shown on the first API call of a tab). */
export async function enterToken(page: Page, token = UI_TOKEN): Promise<void> {
  await page.getByLabel("Registry token").fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
    violations: { id: string; impact: string | null; help: string }[];
  };
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}`);
}
