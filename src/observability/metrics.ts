import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Exemption, Mode } from "../guardrails/index.js";
import type { FindingCount } from "../cluster-findings/count.js";
import type { ClusterSourceMetrics } from "../kube/cluster-source.js";
import type { BodyBudgetMetrics } from "../memory/body-budget.js";
import type { Finding } from "../policy/index.js";

/** How an admission request ended, as counted and logged. */
export type AdmissionDecision = "allowed" | "patched" | "denied" | "rejected" | "error";
export type AdmissionEndpoint = "mutate" | "validate";

export interface MetricsOptions {
  /** Backs `stsguard_statefulset_source_ready`, read at scrape time. */
  readonly isSourceReady: () => boolean;
  /**
   * Current findings in the cluster from the caches, read at scrape time; null (or absent) when
   * there is no synced cluster cache (e.g. `serve --manifests`): the gauge then has no samples.
   */
  readonly readClusterFindings?: () => readonly FindingCount[] | null;
  /**
   * Backs `stsguard_cache_fresh{resource}`, read at scrape time: whether each cache is trusted
   * now. Null (or absent) without a cluster cache: the gauge then has no samples.
   */
  readonly readCacheFreshness?: () => Readonly<Record<string, boolean>> | null;
  /** Process metrics (CPU, memory, event loop lag); off in tests that start many servers. */
  readonly defaultMetrics?: boolean;
}

/** The metrics of one webhook server, in its own registry (never prom-client's global one). */
export interface WebhookMetrics {
  readonly registry: Registry;
  observeAdmission(
    endpoint: AdmissionEndpoint,
    decision: AdmissionDecision,
    findings: readonly Finding[],
    durationSeconds: number,
    /** The namespace's mode; null (label `none`) for requests stsguard did not judge. */
    mode?: Mode | null,
    /** Exemptions that lifted an error of this request. */
    exemptions?: readonly string[],
  ): void;
  observeTlsReload(outcome: "applied" | "rejected"): void;
  observeConfigReload(outcome: "applied" | "rejected"): void;
  /** The configuration now answering: its hash, and when each exemption expires. */
  setActiveConfig(hash: string, exemptions: readonly Exemption[]): void;
  /** A connection closed on arrival because the server's connection cap was reached. */
  observeDroppedConnection(): void;
  /** A connection closed before its first request: headers too late, or a failed TLS handshake. */
  observeCutConnection(reason: "first-request-timeout" | "tls-handshake-failed"): void;
  /** A log line dropped because too much was already waiting for stdout (a stalled reader). */
  observeDroppedLogLine(): void;
  /** The serving certificate's notAfter, in seconds since the epoch, whenever one is installed. */
  setTlsCertificateExpiry(epochSeconds: number): void;
  /** Counters for the cluster source's watches and live reads. */
  readonly clusterSource: ClusterSourceMetrics;
  /** The request body budget: waits, rejections, bytes in use. */
  readonly bodyBudget: BodyBudgetMetrics;
}

// Admission answers take well under a millisecond from the cache; a live read adds a round trip.
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * `stsguard_admission_duration_seconds`, counted per request in plain numbers (a bucket search,
 * three additions) and exported when /metrics is read, with the series, names and cumulative
 * buckets prom-client's own histogram writes. prom-client's observe() copies, validates and
 * hashes the labels on every call.
 */
class EndpointDurationHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<
    AdmissionEndpoint,
    { buckets: Float64Array; sum: number; count: number }
  >();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    for (const endpoint of ["mutate", "validate"] as const) {
      this.series.set(endpoint, {
        buckets: new Float64Array(DURATION_BUCKETS.length),
        sum: 0,
        count: 0,
      });
    }
  }

  observe(endpoint: AdmissionEndpoint, seconds: number): void {
    const series = this.series.get(endpoint);
    if (!series) return;
    series.sum += seconds;
    series.count += 1;
    for (let i = 0; i < DURATION_BUCKETS.length; i += 1) {
      if (seconds <= (DURATION_BUCKETS[i] as number)) {
        series.buckets[i] = (series.buckets[i] as number) + 1;
        return;
      }
    }
  }

  /** What prom-client's Registry reads of a metric when it writes /metrics. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    for (const [endpoint, series] of this.series) {
      if (series.count === 0) continue;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((bound, i) => {
        cumulative += series.buckets[i] as number;
        values.push({
          labels: { le: bound, endpoint },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push(
        {
          labels: { le: "+Inf", endpoint },
          value: series.count,
          metricName: `${this.name}_bucket`,
        },
        { labels: { endpoint }, value: series.sum, metricName: `${this.name}_sum` },
        { labels: { endpoint }, value: series.count, metricName: `${this.name}_count` },
      );
    }
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, aggregator, values });
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  registerIn(registry: Registry): void {
    // The Registry reads only name, help, type, aggregator, get() and reset() of a metric; its
    // types name prom-client's own classes, so this one is passed as one of them.
    registry.registerMetric(this as unknown as Histogram);
  }
}

/**
 * Label sets counted in plain numbers on the request path and added to their prom-client
 * counter when /metrics is read (its `collect`), since inc() copies, validates and hashes the
 * labels on every call: with a histogram, ~18,000 instructions per request before.
 */
class PendingCounts<L extends string> {
  private readonly pending = new Map<string, { labels: Record<L, string>; count: number }>();

  add(key: string, labels: () => Record<L, string>): void {
    const entry = this.pending.get(key);
    if (entry) entry.count += 1;
    else this.pending.set(key, { labels: labels(), count: 1 });
  }

  flushInto(counter: Counter<L>): void {
    for (const entry of this.pending.values()) {
      if (entry.count === 0) continue;
      counter.inc(entry.labels, entry.count);
      entry.count = 0;
    }
  }
}

export function createMetrics(options: MetricsOptions): WebhookMetrics {
  const registry = new Registry();
  const pendingRequests = new PendingCounts<"endpoint" | "decision" | "mode">();
  const pendingFindings = new PendingCounts<"endpoint" | "rule" | "severity">();
  const requests = new Counter({
    name: "stsguard_admission_requests_total",
    help:
      "Admission requests answered, by endpoint, decision (rejected: bad request; error: 500) and " +
      "namespace mode; in monitor mode the decision is what enforce would have answered.",
    labelNames: ["endpoint", "decision", "mode"] as const,
    registers: [registry],
    collect(): void {
      pendingRequests.flushInto(this);
    },
  });
  new Counter({
    name: "stsguard_admission_findings_total",
    help: "Rule findings reported by admission requests, by endpoint, rule id and severity.",
    labelNames: ["endpoint", "rule", "severity"] as const,
    registers: [registry],
    collect(): void {
      pendingFindings.flushInto(this);
    },
  });
  const duration = new EndpointDurationHistogram(
    "stsguard_admission_duration_seconds",
    "Time from the request's arrival to the response being written, by endpoint.",
  );
  duration.registerIn(registry);
  new Gauge({
    name: "stsguard_statefulset_source_ready",
    help: "1 when the StatefulSet source (cache) has synced and admission can be answered.",
    registers: [registry],
    collect(): void {
      this.set(options.isSourceReady() ? 1 : 0);
    },
  });
  new Gauge({
    name: "stsguard_cache_fresh",
    help:
      "1 while a cache is trusted (its watch showed signs of life within the freshness window), " +
      "0 while admission reads that resource live instead, by resource.",
    labelNames: ["resource"] as const,
    registers: [registry],
    collect(): void {
      this.reset();
      for (const [resource, fresh] of Object.entries(options.readCacheFreshness?.() ?? {})) {
        this.set({ resource }, fresh ? 1 : 0);
      }
    },
  });
  const tlsReloads = new Counter({
    name: "stsguard_tls_reloads_total",
    help: "Certificate reloads after the TLS files changed, by outcome (applied or rejected).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const droppedConnections = new Counter({
    name: "stsguard_connections_dropped_total",
    help: "Connections closed on arrival because the connection cap (--max-connections) was reached.",
    registers: [registry],
  });
  const cutConnections = new Counter({
    name: "stsguard_connections_cut_total",
    help:
      "Connections closed before their first request, by reason: first-request-timeout (no " +
      "complete request headers within --headers-timeout of the TCP accept, TLS handshake " +
      "included) or tls-handshake-failed (with --client-ca also a missing or untrusted client " +
      "certificate).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const droppedLogLines = new Counter({
    name: "stsguard_log_lines_dropped_total",
    help: "Log lines dropped because 4 MiB of lines were already waiting for a stdout nobody read.",
    registers: [registry],
  });
  const tlsExpiry = new Gauge({
    name: "stsguard_tls_certificate_expiry_timestamp_seconds",
    help: "When the serving certificate in use expires (notAfter), in seconds since the epoch.",
    registers: [registry],
  });
  new Gauge({
    name: "stsguard_cluster_findings",
    help:
      "Findings in the cluster now, from the webhook's caches, by rule and severity (after " +
      "exemptions; namespaces in mode off not counted). Computed at scrape time.",
    labelNames: ["rule", "severity"] as const,
    registers: [registry],
    collect(): void {
      this.reset();
      for (const { rule, severity, count } of options.readClusterFindings?.() ?? []) {
        this.set({ rule, severity }, count);
      }
    },
  });
  const watchRestarts = new Counter({
    name: "stsguard_watch_restarts_total",
    help: "Watches of the StatefulSet cache restarted, by resource and reason.",
    labelNames: ["resource", "reason"] as const,
    registers: [registry],
  });
  const relists = new Counter({
    name: "stsguard_relists_total",
    help: "Full lists of a resource after its watch could not resume.",
    labelNames: ["resource"] as const,
    registers: [registry],
  });
  const liveReads = new Counter({
    name: "stsguard_live_reads_total",
    help: "Reads from the API server that bypassed the cache, by what was read and outcome.",
    labelNames: ["what", "outcome"] as const,
    registers: [registry],
  });
  const exemptionsApplied = new Counter({
    name: "stsguard_exemptions_applied_total",
    help: "Writes whose errors an exemption turned into warnings (counted at /validate), by exemption name.",
    labelNames: ["exemption"] as const,
    registers: [registry],
  });
  const exemptionExpiry = new Gauge({
    name: "stsguard_exemption_expiry_timestamp_seconds",
    help: "When each configured exemption expires (Unix seconds); exemptions without expires are absent.",
    labelNames: ["exemption"] as const,
    registers: [registry],
  });
  const configReloads = new Counter({
    name: "stsguard_config_reloads_total",
    help: "Reloads of the configuration file after it changed, by outcome (applied or rejected).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const configInfo = new Gauge({
    name: "stsguard_config_info",
    help: "1 for the configuration that answers now, labelled with its hash (sha256 of the file).",
    labelNames: ["hash"] as const,
    registers: [registry],
  });
  const budgetWaits = new Counter({
    name: "stsguard_body_budget_waits_total",
    help: "Admission requests that waited because request bodies in flight filled the memory budget.",
    registers: [registry],
  });
  const budgetRejections = new Counter({
    name: "stsguard_body_budget_rejections_total",
    help: "Admission requests answered 429 after waiting for room in the body memory budget.",
    registers: [registry],
  });
  const budgetInUse = new Gauge({
    name: "stsguard_body_budget_bytes_in_use",
    help: "Bytes of admission request bodies in flight, counted against the body memory budget.",
    registers: [registry],
  });
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  // Series that alerts rate() over exist from the start, at zero, instead of appearing with
  // their first increment (an absent series and a zero one read differently in PromQL).
  for (const endpoint of ["mutate", "validate"]) {
    for (const decision of ["allowed", "patched", "denied", "rejected", "error"]) {
      requests.inc({ endpoint, decision }, 0);
    }
  }
  for (const resource of ["statefulsets", "services", "horizontalpodautoscalers"]) {
    for (const reason of ["server-closed", "silent", "gone", "failed"]) {
      watchRestarts.inc({ resource, reason }, 0);
    }
  }
  for (const what of ["statefulset", "services", "autoscalers"]) {
    for (const outcome of ["found", "not-found", "listed", "unavailable"]) {
      liveReads.inc({ what, outcome }, 0);
    }
  }

  return {
    registry,
    observeAdmission(endpoint, decision, reported, durationSeconds, mode, exemptions): void {
      const modeLabel = mode ?? "none";
      pendingRequests.add(`${endpoint} ${decision} ${modeLabel}`, () => ({
        endpoint,
        decision,
        mode: modeLabel,
      }));
      // The API server calls /mutate and then /validate for one write, and both decide the
      // exemption; only /validate's decision admits, so each write is counted once.
      if (endpoint === "validate") {
        for (const exemption of exemptions ?? []) exemptionsApplied.inc({ exemption });
      }
      for (const { rule, severity } of reported) {
        pendingFindings.add(`${endpoint} ${rule} ${severity}`, () => ({
          endpoint,
          rule,
          severity,
        }));
      }
      duration.observe(endpoint, durationSeconds);
    },
    observeTlsReload(outcome): void {
      tlsReloads.inc({ outcome });
    },
    observeConfigReload(outcome): void {
      configReloads.inc({ outcome });
    },
    setActiveConfig(hash, exemptions): void {
      configInfo.reset();
      configInfo.set({ hash }, 1);
      // Names come from the configuration only, so the label set stays as small as the file.
      exemptionExpiry.reset();
      for (const { name, expiresAt } of exemptions) {
        if (expiresAt !== null) exemptionExpiry.set({ exemption: name }, expiresAt / 1000);
      }
    },
    observeDroppedConnection(): void {
      droppedConnections.inc();
    },
    observeCutConnection(reason): void {
      cutConnections.inc({ reason });
    },
    observeDroppedLogLine(): void {
      droppedLogLines.inc();
    },
    setTlsCertificateExpiry(epochSeconds): void {
      tlsExpiry.set(epochSeconds);
    },
    clusterSource: {
      recordWatchRestart: (resource, reason) => {
        watchRestarts.inc({ resource, reason });
      },
      recordRelist: (resource) => {
        relists.inc({ resource });
      },
      recordLiveRead: (what, outcome) => {
        liveReads.inc({ what, outcome });
      },
    },
    bodyBudget: {
      recordWait: () => {
        budgetWaits.inc();
      },
      recordRejection: () => {
        budgetRejections.inc();
      },
      setInUse: (bytes) => {
        budgetInUse.set(bytes);
      },
    },
  };
}
