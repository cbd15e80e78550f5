import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import type { ModelVersion, Run, RunStatus } from "../../registry/store/types.js";
import { RUN_STATUSES } from "../../registry/store/types.js";
import { joinArtifactUri } from "../../registry/artifacts/uri.js";
import { printTable } from "../output.js";
import { addRegistryConfigOptions, withRegistry } from "../registry-settings.js";

type Flags = Record<string, unknown> & { json?: boolean };

function print(flags: Flags, data: unknown, table: () => void): void {
  if (flags.json) process.stdout.write(JSON.stringify(data, null, 2) + "\n");
  else table();
}

const time = (ms: number | null) =>
  ms === null ? "" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** A subcommand with the registry options, --json and a --config file. */
function leaf(parent: Command, name: string, description: string): Command {
  const command = parent
    .command(name)
    .description(description)
    .option("--json", "print JSON instead of a table");
  addRegistryConfigOptions(command);
  return command;
}

function parseVersion(text: string): number {
  if (!/^[1-9][0-9]*$/.test(text))
    throw new UserError(`version must be a positive integer, got "${text}"`);
  return Number(text);
}

function runRow(run: Run) {
  return {
    run_id: run.id,
    name: run.name,
    status: run.status,
    start: time(run.startTime),
    end: time(run.endTime),
    params: Object.entries(run.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
    metrics: Object.entries(run.latestMetrics)
      .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(5)}`)
      .join(" "),
  };
}

function versionRow(v: ModelVersion) {
  return {
    version: v.version,
    aliases: v.aliases.join(","),
    created: time(v.createdAt),
    run_id: v.runId ?? "",
    source: v.source,
    tags: Object.entries(v.tags)
      .map(([k, value]) => `${k}=${value}`)
      .join(" "),
  };
}

/** `key=value` arguments (the value may contain "="), as a tag map. */
function parseTags(pairs: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UserError(`a tag is key=value, got "${pair}"`);
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return tags;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRegistryCommands(program: Command): void {
  const experiments = program
    .command("experiments")
    .description("Experiments of the tracking store");
  leaf(experiments, "list", "List experiments").action(async (flags: Flags) => {
    await withRegistry(flags, async (registry) => {
      const list = await registry.store.listExperiments();
      print(flags, list, () =>
        printTable(
          list.map((e) => ({
            id: e.id,
            name: e.name,
            created: time(e.createdAt),
            artifacts: e.artifactLocation,
          })),
        ),
      );
    });
  });

  const runs = program
    .command("runs")
    .description("Runs: params, metrics, tags, artifacts, status");
  leaf(runs, "list", "List runs, newest first")
    .option("--experiment <name>", "only runs of this experiment")
    .option("--status <status>", `only runs with this status (${RUN_STATUSES.join(", ")})`)
    .option("--limit <n>", "at most this many", "50")
    .addHelpText("after", "\nExample:\n  mldeploy runs list --experiment nyc-taxi")
    .action(async (flags: Flags & { experiment?: string; status?: string; limit: string }) => {
      const status = flags.status?.toUpperCase();
      if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
        throw new UserError(
          `--status must be one of ${RUN_STATUSES.join(", ")}, got "${flags.status}"`,
        );
      }
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UserError(`--limit must be a positive integer, got "${flags.limit}"`);
      await withRegistry(flags, async (registry) => {
        let experimentId: string | undefined;
        if (flags.experiment !== undefined) {
          const experiment = await registry.store.findExperimentByName(flags.experiment);
          if (!experiment) throw new UserError(`no experiment named "${flags.experiment}"`);
          experimentId = experiment.id;
        }
        const list = await registry.store.listRuns({
          experimentId,
          status: status as RunStatus | undefined,
          limit,
        });
        print(flags, list, () => printTable(list.map(runRow)));
      });
    });
  leaf(runs, "show", "Show one run: params, latest metrics, tags, artifact location")
    .argument("<run-id>")
    .action(async (runId: string, flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        const run = await registry.store.getRun(runId);
        print(flags, run, () => {
          const { params, tags, latestMetrics, ...rest } = run;
          printTable([{ ...rest, startTime: time(rest.startTime), endTime: time(rest.endTime) }]);
          process.stdout.write("\n");
          printTable(Object.entries(params).map(([param, value]) => ({ param, value })));
          process.stdout.write("\n");
          printTable(Object.entries(latestMetrics).map(([metric, value]) => ({ metric, value })));
          if (Object.keys(tags).length) {
            process.stdout.write("\n");
            printTable(Object.entries(tags).map(([tag, value]) => ({ tag, value })));
          }
        });
      });
    });
  leaf(runs, "metric", "History of one metric of a run (step, value, time)")
    .argument("<run-id>")
    .argument("<key>")
    .action(async (runId: string, key: string, flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        const history = await registry.store.getMetricHistory(runId, key);
        print(flags, history, () =>
          printTable(
            history.map((p) => ({ step: p.step, value: p.value, time: time(p.timestamp) })),
          ),
        );
      });
    });

  const models = program.command("models").description("Registered models, versions and aliases");
  leaf(models, "list", "List registered models with their latest version and aliases").action(
    async (flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        const list = await registry.store.listRegisteredModels();
        print(flags, list, () =>
          printTable(
            list.map((m) => ({
              name: m.name,
              latest: m.latestVersion ?? "",
              aliases: Object.entries(m.aliases)
                .map(([alias, v]) => `${alias}=${v}`)
                .join(" "),
              updated: time(m.updatedAt),
            })),
          ),
        );
      });
    },
  );
  leaf(models, "versions", "List the versions of a registered model")
    .argument("<name>")
    .action(async (name: string, flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        const list = await registry.store.listModelVersions(name);
        print(flags, list, () => printTable(list.map(versionRow)));
      });
    });
  leaf(
    models,
    "show",
    "Show the version a model URI names now (models:/name@alias, models:/name/3)",
  )
    .argument("<uri>")
    .action(async (uri: string, flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        const version = await registry.modelVersionFor(uri);
        if (!version) throw new UserError(`${uri} is not a registry model URI (models:/…)`);
        print(flags, version, () => printTable([versionRow(version)]));
      });
    });
  leaf(
    models,
    "register",
    "Register a model directory already in an artifact store as a new version",
  )
    .argument("<name>")
    .argument(
      "<source>",
      "artifact URI of the bundle: runs:/<run_id>/model, s3://bucket/key or a directory",
    )
    .option("--description <text>", "version description")
    .option("--tag <key=value>", "a model version tag (repeatable)", collect)
    .action(
      async (
        name: string,
        source: string,
        flags: Flags & { description?: string; tag?: string[] },
      ) => {
        const tags = parseTags(flags.tag ?? []);
        await withRegistry(flags, async (registry) => {
          let uri = source;
          let runId: string | undefined;
          const runMatch = /^runs:\/+([0-9a-f]{32})\/(.+)$/.exec(source);
          if (runMatch) {
            const run = await registry.store.getRun(runMatch[1]);
            runId = run.id;
            uri = joinArtifactUri(run.artifactUri, runMatch[2]);
          }
          const version = await registry.registerModel(name, uri, {
            runId,
            description: flags.description,
            tags,
          });
          print(flags, version, () =>
            process.stdout.write(`registered ${name} version ${version.version}\n`),
          );
        });
      },
    );
  leaf(models, "tag", "Set (key=value) or delete (--delete key) tags of a model version")
    .argument("<name>")
    .argument("<version>")
    .argument("[tags...]", "key=value pairs to set or overwrite")
    .option("--delete <key>", "remove this tag (repeatable)", collect)
    .addHelpText(
      "after",
      "\nExample:\n  mldeploy models tag ride-duration 3 validated=true owner=rides",
    )
    .action(
      async (
        name: string,
        version: string,
        pairs: string[],
        flags: Flags & { delete?: string[] },
      ) => {
        const number = parseVersion(version);
        const tags = parseTags(pairs);
        const deleted = flags.delete ?? [];
        if (Object.keys(tags).length === 0 && deleted.length === 0) {
          throw new UserError("give key=value tags to set, or --delete <key>");
        }
        await withRegistry(flags, async (registry) => {
          if (Object.keys(tags).length > 0) {
            await registry.store.setModelVersionTags(name, number, tags);
          }
          for (const key of deleted) await registry.store.deleteModelVersionTag(name, number, key);
          const updated = await registry.store.getModelVersion(name, number);
          print(flags, updated, () => printTable([versionRow(updated)]));
        });
      },
    );
  leaf(models, "alias", "Point an alias (production, staging, …) at a version; serve follows it")
    .argument("<name>")
    .argument("<alias>")
    .argument("<version>")
    .addHelpText("after", "\nExample:\n  mldeploy models alias ride-duration production 3")
    .action(async (name: string, alias: string, version: string, flags: Flags) => {
      const number = parseVersion(version);
      await withRegistry(flags, async (registry) => {
        await registry.setAlias(name, alias, number);
        print(flags, { name, alias, version: number }, () =>
          process.stdout.write(`${name}@${alias} -> version ${number}\n`),
        );
      });
    });
  leaf(models, "delete-alias", "Remove an alias")
    .argument("<name>")
    .argument("<alias>")
    .action(async (name: string, alias: string, flags: Flags) => {
      await withRegistry(flags, async (registry) => {
        await registry.store.deleteAlias(name, alias);
        print(flags, { name, alias, deleted: true }, () =>
          process.stdout.write(`deleted ${name}@${alias}\n`),
        );
      });
    });
}
