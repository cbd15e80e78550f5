import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { batchOptionsSchema } from "../../src/batch/options.js";

const load = (file: string) =>
  parseAllDocuments(readFileSync(`deploy/kubernetes/${file}`, "utf8")).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as Record<string, unknown>;
  });

describe("Kubernetes manifests", () => {
  it("the Indexed Job gives pod i partition i of as many partitions as completions", () => {
    const [job] = load("batch-indexed-job.yaml") as Array<{
      kind: string;
      spec: {
        completionMode: string;
        completions: number;
        template: { spec: { containers: Array<{ args: string[] }> } };
      };
    }>;
    expect(job.kind).toBe("Job");
    expect(job.spec.completionMode).toBe("Indexed");
    const command = job.spec.template.spec.containers[0].args.join(" ");
    expect(command).toContain(`--partition "\${JOB_COMPLETION_INDEX}/${job.spec.completions}"`);
    // Every flag the command uses is a real batch setting.
    for (const [, flag] of command.matchAll(/--([a-z-]+)/g)) {
      const key = flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
      expect(Object.keys(batchOptionsSchema.shape), flag).toContain(key);
    }
  });

  it("the service Deployment probes the service's own health routes and scales on CPU", () => {
    const docs = load("serve-deployment.yaml");
    expect(docs.map((d) => d.kind)).toEqual(["Deployment", "Service", "HorizontalPodAutoscaler"]);
    const text = JSON.stringify(docs[0]);
    expect(text).toContain("/v2/health/ready");
    expect(text).toContain("models:/ride-duration@production");
    // serve listens on 127.0.0.1 unless told: the pod must say every interface.
    expect(text).toContain('{"name":"MLDEPLOY_HOST","value":"0.0.0.0"}');
  });
});
