// `stsguard serve --controller` as users run it: the built CLI in a child process, against the
// fake API server with server-side apply.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliPath, makeTempDir, runBuiltCli } from "../cli/built-cli.js";
import { waitFor } from "../helpers/wait-for.js";
import { eventsOf, kafka, specOf, startFake, waitForServices } from "./harness.js";
import { renderKubeconfig } from "../helpers/kubeconfig.js";

describe("stsguard serve --controller (built CLI)", () => {
  it("documents the flags and refuses --controller with --manifests", async () => {
    const help = await runBuiltCli(["serve", "--help"]);
    expect(help.stdout).toMatch(/--controller\s/);
    expect(help.stdout).toMatch(/STSGUARD_CONTROLLER\s+--controller/);
    expect(help.stdout).toMatch(/--leader-election-namespace <ns>/);
    const refused = await runBuiltCli(["serve", "--controller", "--manifests", "."]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /--controller writes Services to a cluster; it cannot run with --manifests/,
    );
  });

  it("keeps per-pod Services in step while it serves admission, and releases its Lease on SIGTERM", async () => {
    const fake = await startFake();
    fake.apply("statefulsets", kafka({ replicas: 2 }));
    const temp = await makeTempDir("serve-controller-");
    try {
      await mkdir(join(temp.dir, "home"));
      await writeFile(
        join(temp.dir, "kubeconfig.yaml"),
        renderKubeconfig(fake.url, "controller-token"),
      );
      const child = spawn(
        process.execPath,
        [
          cliPath,
          "serve",
          "--controller",
          "--kubeconfig",
          "kubeconfig.yaml",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
        ],
        {
          cwd: temp.dir,
          env: {
            PATH: process.env["PATH"] ?? "",
            HOME: join(temp.dir, "home"),
            STSGUARD_METRICS_PORT: "0",
            POD_NAMESPACE: "stsguard",
            POD_NAME: "stsguard-abc12",
          },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
      try {
        await waitFor("the start banner", () => /Stop with Ctrl-C/.test(stderr), 20_000);
        const metricsPort = Number(
          /metrics: +http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr)?.[1],
        );
        await waitForServices(fake, ["kafka-0", "kafka-1"]);
        expect(specOf(fake.get("services", "streaming", "kafka-0"))["externalTrafficPolicy"]).toBe(
          "Local",
        );
        expect(
          fake
            .writeRequests("services")
            .every((r) => r.authorization === "Bearer controller-token"),
        ).toBe(true);
        const lease = fake.get("leases", "stsguard", "stsguard-controller");
        expect(String(specOf(lease)["holderIdentity"])).toMatch(/^stsguard-abc12_[0-9a-f-]{36}$/);

        fake.update("statefulsets", "streaming", "kafka", (sts) => {
          specOf(sts)["replicas"] = 1;
        });
        await waitForServices(fake, ["kafka-0"]);
        await waitFor(
          "a ServiceDeleted Event",
          () => eventsOf(fake, "ServiceDeleted").length === 1,
        );

        const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        expect(metrics).toMatch(/^stsguard_controller_leader 1$/m);
        expect(metrics).toMatch(
          /^stsguard_controller_service_writes_total\{action="created"\} 2$/m,
        );
        expect(metrics).toMatch(
          /^stsguard_controller_service_writes_total\{action="deleted"\} 1$/m,
        );
        expect(metrics).toMatch(/^stsguard_controller_managed_services 1$/m);
        const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
        expect(ready.status).toBe(200);
      } finally {
        child.kill("SIGTERM");
      }
      expect(await exited).toBe(0);
      expect(specOf(fake.get("leases", "stsguard", "stsguard-controller"))["holderIdentity"]).toBe(
        "",
      );
      expect(stdout).toMatch(/"msg":"released the Lease"/);
    } finally {
      await temp.remove();
    }
  }, 60_000);
});
