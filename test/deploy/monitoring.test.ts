import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { createBatchMetrics } from "../../src/batch/metrics.js";
import { createServeMetrics } from "../../src/serve/metrics.js";
import { createStreamMetrics } from "../../src/stream/metrics.js";
import { tempDir } from "../helpers/temp.js";

/** Debian's promtool (package `prometheus`), which .ci/run installs. */
const PROMTOOL = "/usr/bin/promtool";
const HAS_PROMTOOL = existsSync(PROMTOOL);
const NO_PROMTOOL = `skipped: ${PROMTOOL} is missing (apt-get install prometheus)`;
const title = (text: string) => (HAS_PROMTOOL ? text : `${text} — ${NO_PROMTOOL}`);

const RULES = "deploy/prometheus/mldeploy-rules.yml";
const RULE_TESTS = "deploy/prometheus/tests";
const DASHBOARD = "deploy/grafana/dashboards/mldeploy.json";

/**
 * Metrics `mldeploy monitor` and the prediction log publish (issue 21), which the rules and the
 * dashboard may use before the code defining them is merged.
 */
const MONITORING_METRICS = [
  "mldeploy_drift_score",
  "mldeploy_dataset_drift",
  "mldeploy_model_rmse",
  "mldeploy_model_training_rmse",
  "mldeploy_prediction_log_dropped_total",
];

async function promtool(args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(PROMTOOL, args, { timeout: 30_000 });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${failed.stdout ?? ""}${failed.stderr ?? failed.message}` };
  }
}

/** Every `"mldeploy_…"` literal in the source files that define Prometheus metrics. */
function metricsDefinedInSource(): Set<string> {
  const names = new Set<string>();
  const files = readdirSync("src", { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".ts"),
  );
  for (const file of files) {
    const text = readFileSync(path.join("src", file), "utf8");
    if (!text.includes('from "prom-client"')) continue;
    for (const [, name] of text.matchAll(/"(mldeploy_[a-z0-9_]+)"/g)) names.add(name);
  }
  return names;
}

/** The labels each proposed monitoring metric carries (besides Prometheus's job and instance). */
const MONITORING_LABELS: Record<string, string[]> = {
  mldeploy_drift_score: ["model", "version", "column"],
  mldeploy_dataset_drift: ["model", "version"],
  mldeploy_model_rmse: ["model", "version"],
  mldeploy_model_training_rmse: ["model", "version"],
  mldeploy_prediction_log_dropped_total: [],
};

/**
 * Label names of every series serve, stream and batch expose, read from their real metric
 * registries after one of each event, as a scrape would see them.
 */
async function exposedLabels(): Promise<Map<string, Set<string>>> {
  const serve = createServeMetrics({ processMetrics: false });
  serve.observeRequest("POST", "/predict", 200, 0.001);
  serve.observeBatch("ride-duration", 1);
  serve.countPredictions("ride-duration", 1);
  serve.setModelLoaded("ride-duration", "1", 0.1);
  serve.countRejected("overload");
  serve.countReload("failure");
  const stream = createStreamMetrics();
  stream.observeBatch({ received: 1, predicted: 1, deadLettered: 0, ms: 1 });
  stream.observeLag({ messages: 1, behindMs: 1 });
  const batch = createBatchMetrics("job");
  batch.runEnded({
    status: "FINISHED",
    durationMs: 1,
    rowsRead: 1,
    rowsScored: 1,
    rowsRejected: 0,
    model: { name: "ride-duration", version: "1" },
  });
  const labels = new Map<string, Set<string>>();
  for (const registry of [serve.registry, stream.registry, batch.registry]) {
    for (const line of (await registry.metrics()).split("\n")) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
      if (!match) continue;
      const names = [...(match[2] ?? "").matchAll(/(\w+)="/g)].map((m) => m[1]);
      const set = labels.get(match[1]) ?? new Set<string>();
      for (const name of names) set.add(name);
      labels.set(match[1], set);
    }
  }
  for (const [name, names] of Object.entries(MONITORING_LABELS)) labels.set(name, new Set(names));
  return labels;
}

/**
 * Label names an expression uses (in matchers, by/without/on/ignoring/group_* lists) that none
 * of the series it reads carries; job and instance come from Prometheus, `extra` from
 * recording rules.
 */
function unknownLabels(
  expr: string,
  exposed: Map<string, Set<string>>,
  extra: Record<string, string[]> = {},
): string[] {
  const available = new Set(["job", "instance"]);
  for (const name of metricNames(expr)) {
    for (const label of exposed.get(name) ?? extra[name] ?? []) available.add(label);
  }
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const used = [
    ...[...bare.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
      [...m[1].matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]),
    ),
    ...[...bare.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)]
      .flatMap((m) => m[1].split(","))
      .map((l) => l.trim())
      .filter((l) => l !== ""),
  ];
  return [...new Set(used.filter((label) => !available.has(label)))];
}

const PROMQL_WORDS = new Set(
  "by without on ignoring group_left group_right bool and or unless offset inf nan".split(" "),
);

/**
 * The metric names a PromQL expression reads: identifiers left once strings, label matchers,
 * label lists, ranges, numbers and function calls are taken out.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, " ");
  const names = [...bare.matchAll(/[A-Za-z_:][\w:]*(?!\s*\(|[\w:])/g)].map((m) => m[0]);
  return names.filter((name) => !PROMQL_WORDS.has(name.toLowerCase()));
}

/** Names no series of mldeploy (or Prometheus itself: `up`) has, histogram suffixes allowed. */
function unknownMetrics(exprs: string[], extra: string[] = []): string[] {
  const known = new Set([...metricsDefinedInSource(), ...MONITORING_METRICS, "up", ...extra]);
  const unknown = new Set<string>();
  for (const expr of exprs) {
    for (const name of metricNames(expr)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (!known.has(name) && !known.has(base)) unknown.add(name);
    }
  }
  return [...unknown];
}

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}
const rules = (
  parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((group) => group.rules);

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; datasource?: { uid: string } }>;
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; current: { value: string } }> };
};
const queryPanels = dashboard.panels.filter((panel) => panel.type !== "row");
/** Grafana's variables replaced by what they expand to at a 15 s scrape interval. */
const expand = (expr: string) => expr.replaceAll("$__rate_interval", "1m");

describe("Prometheus rules", () => {
  it.skipIf(!HAS_PROMTOOL)(title("promtool check rules accepts the rule file"), async () => {
    const result = await promtool(["check", "rules", RULES]);
    expect(result.ok, result.output).toBe(true);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it.skipIf(!HAS_PROMTOOL)(
    title("promtool test rules: every alert fires where it should and stays quiet elsewhere"),
    async () => {
      const tests = readdirSync(RULE_TESTS)
        .filter((f) => f.endsWith(".yml"))
        .map((f) => path.join(RULE_TESTS, f));
      const result = await promtool(["test", "rules", ...tests]);
      expect(result.ok, result.output).toBe(true);
      expect(result.output).not.toContain("FAILED");
    },
  );

  it("each alert has a unit test where it fires and one where it does not", () => {
    const seen = new Map<string, { fires: boolean; quiet: boolean }>();
    for (const file of readdirSync(RULE_TESTS).filter((f) => f.endsWith(".yml"))) {
      const doc = parse(readFileSync(path.join(RULE_TESTS, file), "utf8")) as {
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
      };
      for (const test of doc.tests.flatMap((t) => t.alert_rule_test ?? [])) {
        const entry = seen.get(test.alertname) ?? { fires: false, quiet: false };
        if (test.exp_alerts.length > 0) entry.fires = true;
        else entry.quiet = true;
        seen.set(test.alertname, entry);
      }
    }
    const alerts = rules.flatMap((rule) => (rule.alert ? [rule.alert] : []));
    expect(alerts).toEqual(
      expect.arrayContaining([
        "MldeployDatasetDrift",
        "MldeployModelRmseAboveTraining",
        "MldeployNoPredictions",
        "MldeployPredictionLogDropping",
      ]),
    );
    for (const alert of alerts) {
      expect(seen.get(alert), alert).toEqual({ fires: true, quiet: true });
    }
  });

  it("reads only metrics mldeploy defines (or the monitoring metrics of issue 21)", () => {
    const recorded = rules.flatMap((rule) => (rule.record ? [rule.record] : []));
    expect(
      unknownMetrics(
        rules.map((rule) => rule.expr),
        recorded,
      ),
    ).toEqual([]);
    // The check bites: a misspelt name is reported.
    expect(unknownMetrics(["rate(mldeploy_prediction_total[5m])"])).toEqual([
      "mldeploy_prediction_total",
    ]);
  });

  it("uses only labels the metrics carry (as serve, stream and batch expose them)", async () => {
    const exposed = await exposedLabels();
    const recorded: Record<string, string[]> = {
      "mldeploy:model_rmse_over_training:ratio": ["model", "version"],
      "mldeploy:model_rmse_alert_factor": [],
    };
    for (const rule of rules) {
      expect(unknownLabels(rule.expr, exposed, recorded), rule.alert ?? rule.record).toEqual([]);
    }
    // The check bites: predictions carry no version label, batch metrics no `job_name`.
    expect(unknownLabels("sum by (version) (mldeploy_predictions_total)", exposed)).toEqual([
      "version",
    ]);
    expect(unknownLabels('mldeploy_batch_runs_total{job_name="x"}', exposed)).toEqual(["job_name"]);
  });

  it.skipIf(!HAS_PROMTOOL)(
    title("promtool check config accepts the example scrape configuration and its rules"),
    async () => {
      const result = await promtool(["check", "config", "deploy/prometheus/prometheus.yml"]);
      expect(result.ok, result.output).toBe(true);
      const config = parse(readFileSync("deploy/prometheus/prometheus.yml", "utf8")) as {
        scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
      };
      const serve = config.scrape_configs.find((job) => job.job_name === "mldeploy-serve");
      // serve's default port (src/serve/options.ts).
      expect(serve?.static_configs[0].targets).toEqual(["127.0.0.1:9696"]);
    },
  );
});

describe("Grafana dashboard", () => {
  it("has a panel for each thing to watch, with unique ids, on the provisioned datasource", () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const provisioned = parse(
      readFileSync("deploy/grafana/provisioning/datasources/mldeploy.yml", "utf8"),
    ) as { datasources: Array<{ uid: string; type: string }> };
    const variable = dashboard.templating.list.find((v) => v.name === "datasource");
    expect(variable?.type).toBe("datasource");
    expect(variable?.current.value).toBe(provisioned.datasources[0].uid);
    expect(provisioned.datasources[0].type).toBe("prometheus");
    for (const panel of queryPanels) {
      expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    const all = queryPanels.flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
    const used = new Set(all.flatMap(metricNames));
    for (const metric of [
      "mldeploy_predictions_total",
      "mldeploy_http_request_duration_seconds_bucket",
      "mldeploy_http_requests_rejected_total",
      "mldeploy_drift_score",
      "mldeploy_dataset_drift",
      "mldeploy_model_rmse",
      "mldeploy_prediction_log_dropped_total",
      "mldeploy_batch_last_run_rows",
      "mldeploy_batch_last_success_timestamp_seconds",
      "mldeploy_stream_lag_seconds",
    ]) {
      expect(used, metric).toContain(metric);
    }
  });

  it("reads only metrics mldeploy defines (or the monitoring metrics of issue 21)", () => {
    const exprs = queryPanels.flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
    expect(unknownMetrics(exprs)).toEqual([]);
  });

  it("uses only labels the metrics carry (as serve, stream and batch expose them)", async () => {
    const exposed = await exposedLabels();
    for (const panel of queryPanels) {
      for (const target of panel.targets ?? []) {
        expect(unknownLabels(target.expr, exposed), `${panel.title} ${target.refId}`).toEqual([]);
      }
    }
  });

  it.skipIf(!HAS_PROMTOOL)(
    title("every panel's query is valid PromQL (promtool checks it as a recording rule)"),
    async () => {
      const dir = tempDir("mldeploy-dashboard-");
      const check = async (targets: Array<{ name: string; expr: string }>) => {
        const file = path.join(dir, "dashboard-rules.yml");
        const group = {
          name: "dashboard",
          rules: targets.map((t) => ({ record: t.name, expr: expand(t.expr) })),
        };
        writeFileSync(file, stringify({ groups: [group] }));
        return promtool(["check", "rules", file]);
      };
      const targets = queryPanels.flatMap((panel) =>
        (panel.targets ?? []).map((target) => ({
          name: `dashboard:panel_${panel.id}_${target.refId}`,
          expr: target.expr,
        })),
      );
      const result = await check(targets);
      expect(result.ok, result.output).toBe(true);
      expect(result.output).toContain(`SUCCESS: ${targets.length} rules found`);
      // The check bites: one unbalanced parenthesis is refused.
      const broken = await check([{ name: "broken", expr: "sum(rate(up[5m])" }]);
      expect(broken.ok).toBe(false);
    },
  );
});
