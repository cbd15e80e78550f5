import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/**
 * Headless Chromium for the UI benchmarks: the system's binary (Debian's `chromium`, or the
 * one MLDEPLOY_CHROMIUM names), driven by playwright-core; nothing is downloaded.
 */
export async function launchSystemChromium(): Promise<Browser> {
  const executablePath =
    process.env.MLDEPLOY_CHROMIUM ??
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((path) =>
      existsSync(path),
    );
  if (executablePath === undefined) {
    throw new Error(
      "no Chromium found: install it (apt install chromium) or set MLDEPLOY_CHROMIUM to its path",
    );
  }
  return chromium.launch({ executablePath, headless: true });
}
