/**
 * A small kube-apiserver stand-in on 127.0.0.1 that speaks the real list and watch protocol for
 * StatefulSets and Services, so the cluster source talks to it over a socket exactly as it talks
 * to a cluster. Tests drive it: change objects (bumping one global resourceVersion), send
 * bookmarks, drop or stall watches, compact history (410 Gone), fail or delay reads.
 *
 * Matches what real servers do where it matters:
 * - list items carry no apiVersion/kind; watch event objects do;
 * - a watch from a resourceVersion older than the history gets a 200 stream with one ERROR event
 *   holding a Status `code: 410, reason: Expired`, then the stream ends;
 * - BOOKMARK events only go to watches that asked with allowWatchBookmarks=true;
 * - a watch ends cleanly after its timeoutSeconds;
 * - a missing object is a 404 Status with reason NotFound.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createKubeConfigForServer, type KubeConfig } from "../../src/kube/client.js";

export type FakeResource = "statefulsets" | "services";

type JsonObject = Record<string, unknown>;
type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface StoredEvent {
  readonly resource: FakeResource;
  readonly resourceVersion: number;
  readonly type: EventType;
  readonly object: JsonObject;
}

interface Watcher {
  readonly resource: FakeResource;
  readonly response: http.ServerResponse;
  readonly bookmarks: boolean;
  stalled: boolean;
  timer?: NodeJS.Timeout;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  readonly authorization: string | undefined;
}

/** What the next watch of a resource gets instead of its events. */
export type WatchFault =
  | { readonly kind: "error-event"; readonly code: number; readonly reason: string }
  | { readonly kind: "http"; readonly status: number; readonly reason: string };

const RESOURCES: Record<FakeResource, { apiVersion: string; kind: string; path: string }> = {
  statefulsets: { apiVersion: "apps/v1", kind: "StatefulSet", path: "/apis/apps/v1" },
  services: { apiVersion: "v1", kind: "Service", path: "/api/v1" },
};

const COLLECTION = /^\/(?:apis\/apps\/v1|api\/v1)\/(statefulsets|services)$/;
const NAMESPACED_COLLECTION =
  /^\/(?:apis\/apps\/v1|api\/v1)\/namespaces\/([^/]+)\/(statefulsets|services)$/;
const NAMESPACED_OBJECT =
  /^\/(?:apis\/apps\/v1|api\/v1)\/namespaces\/([^/]+)\/(statefulsets|services)\/([^/]+)$/;

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly objects: Record<FakeResource, Map<string, JsonObject>> = {
    statefulsets: new Map(),
    services: new Map(),
  };
  private history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly watchFaults: Record<FakeResource, WatchFault[]> = {
    statefulsets: [],
    services: [],
  };
  private readonly watchRefusals: Record<FakeResource, number | null> = {
    statefulsets: null,
    services: null,
  };
  private readonly watchesEndAtOnce: Record<FakeResource, boolean> = {
    statefulsets: false,
    services: false,
  };
  private streamAnswers = false;
  private currentVersion = 1000;
  private compactedVersion = 0;
  private stallNewWatches = false;
  private listFailure: number | null = null;
  private readFailure: { status: number; reason: string } | null = null;
  private readDelayMs = 0;
  private versionBody: unknown = { major: "1", minor: "30", gitVersion: "v1.30.2" };
  private port = 0;

  private constructor() {
    this.server = http.createServer((request, response) => {
      this.handle(request, response);
    });
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => {
        this.sockets.delete(socket);
      });
    });
  }

  static async start(): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at this server (plain HTTP needs skipTLSVerify in client-node). */
  kubeConfig(token?: string): KubeConfig {
    return createKubeConfigForServer(this.url, { skipTLSVerify: true, token });
  }

  resourceVersion(): string {
    return String(this.currentVersion);
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns its new resourceVersion. */
  apply(resource: FakeResource, object: JsonObject): string {
    // Stored without apiVersion/kind: list items carry none, GETs and events add them back.
    const copy = structuredClone(object);
    delete copy["apiVersion"];
    delete copy["kind"];
    const metadata = copy["metadata"] as JsonObject;
    const key = `${String(metadata["namespace"])}/${String(metadata["name"])}`;
    const type: EventType = this.objects[resource].has(key) ? "MODIFIED" : "ADDED";
    this.currentVersion += 1;
    metadata["resourceVersion"] = String(this.currentVersion);
    metadata["uid"] ??= `uid-${key}`;
    this.objects[resource].set(key, copy);
    this.publish({ resource, resourceVersion: this.currentVersion, type, object: copy });
    return String(this.currentVersion);
  }

  /** Changes an object in place through `change`, as an update would. */
  update(
    resource: FakeResource,
    namespace: string,
    name: string,
    change: (obj: JsonObject) => void,
  ): string {
    const current = this.objects[resource].get(`${namespace}/${name}`);
    if (!current) throw new Error(`fake apiserver: no ${resource} ${namespace}/${name}`);
    const copy = structuredClone(current);
    change(copy);
    return this.apply(resource, copy);
  }

  remove(resource: FakeResource, namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    const current = this.objects[resource].get(key);
    if (!current) throw new Error(`fake apiserver: no ${resource} ${key}`);
    this.objects[resource].delete(key);
    this.currentVersion += 1;
    const object = structuredClone(current);
    (object["metadata"] as JsonObject)["resourceVersion"] = String(this.currentVersion);
    this.publish({ resource, resourceVersion: this.currentVersion, type: "DELETED", object });
    return String(this.currentVersion);
  }

  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for bookmarks. */
  sendBookmark(resource?: FakeResource): void {
    for (const watcher of this.liveWatchers(resource)) {
      if (!watcher.bookmarks) continue;
      const { apiVersion, kind } = RESOURCES[watcher.resource];
      const object = { apiVersion, kind, metadata: { resourceVersion: this.resourceVersion() } };
      writeEvent(watcher.response, "BOOKMARK", object);
    }
  }

  /** Destroys the sockets of open watches without ending the response, as a dead link does. */
  dropWatches(resource?: FakeResource): void {
    for (const watcher of [...this.watchers]) {
      if (resource && watcher.resource !== resource) continue;
      this.forget(watcher);
      watcher.response.socket?.destroy();
    }
  }

  /** Forgets the event history: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedVersion = this.currentVersion;
  }

  /** The next watch of `resource` fails this way (queued; one fault per watch). */
  failNextWatch(resource: FakeResource, fault: WatchFault): void {
    this.watchFaults[resource].push(fault);
  }

  /** Every watch of `resource` is refused with this HTTP status until called with null. */
  refuseWatches(resource: FakeResource, status: number | null): void {
    this.watchRefusals[resource] = status;
  }

  /** Objects and list pages are sent without a Content-Length, in chunks (true), or with one. */
  streamObjectAnswers(streamed = true): void {
    this.streamAnswers = streamed;
  }

  /** Every watch of `resource` gets a 200 that ends at once with no event, until called with false. */
  endWatchesAtOnce(resource: FakeResource, ending = true): void {
    this.watchesEndAtOnce[resource] = ending;
  }

  /** Open watches stop receiving anything, and new ones get headers but never an event. */
  stallWatches(stalled = true): void {
    this.stallNewWatches = stalled;
    if (stalled) for (const watcher of this.watchers) watcher.stalled = true;
  }

  /** Lists answer this HTTP status (null: normal). */
  failLists(status: number | null): void {
    this.listFailure = status;
  }

  /** Namespaced GETs and lists (the live reads) and /version answer this (null: normal). */
  failReads(status: number | null, reason = "InternalError"): void {
    this.readFailure = status === null ? null : { status, reason };
  }

  /** Namespaced GETs and lists and /version wait this long before answering. */
  delayReads(ms: number): void {
    this.readDelayMs = ms;
  }

  setVersion(body: unknown): void {
    this.versionBody = body;
  }

  activeWatches(resource?: FakeResource): number {
    return [...this.watchers].filter((w) => !resource || w.resource === resource).length;
  }

  /** Open watches that are not stalled. */
  liveWatches(resource?: FakeResource): number {
    return this.liveWatchers(resource).length;
  }

  openConnections(): number {
    return this.sockets.size;
  }

  watchRequests(resource: FakeResource): RecordedRequest[] {
    return this.requests.filter((r) => r.watch && r.path.endsWith(`/${resource}`));
  }

  listRequests(resource: FakeResource): RecordedRequest[] {
    return this.requests.filter((r) => !r.watch && COLLECTION.exec(r.path)?.[1] === resource);
  }

  readRequests(): RecordedRequest[] {
    return this.requests.filter(
      (r) => NAMESPACED_OBJECT.test(r.path) || NAMESPACED_COLLECTION.test(r.path),
    );
  }

  async close(): Promise<void> {
    for (const watcher of [...this.watchers]) this.forget(watcher);
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? "/", this.url);
    const query = Object.fromEntries(url.searchParams);
    const watch = query["watch"] === "true" || query["watch"] === "1";
    this.requests.push({
      method: request.method ?? "",
      path: url.pathname,
      query,
      watch,
      authorization: request.headers.authorization,
    });
    const collection = COLLECTION.exec(url.pathname)?.[1] as FakeResource | undefined;
    if (collection && watch) {
      this.startWatch(collection, query, response);
      return;
    }
    if (collection) {
      this.sendList(collection, null, query, response);
      return;
    }
    this.handleRead(url.pathname, query, response);
  }

  /** Namespaced GETs and lists and /version: the reads that failReads and delayReads affect. */
  private handleRead(
    path: string,
    query: Record<string, string>,
    response: http.ServerResponse,
  ): void {
    const list = NAMESPACED_COLLECTION.exec(path);
    const object = NAMESPACED_OBJECT.exec(path);
    if (!list && !object && path !== "/version") {
      const status = aStatus(404, "NotFound", "the server could not find the requested resource");
      sendJson(response, 404, { ...status, details: {} });
      return;
    }
    const answer = (): void => {
      if (response.destroyed) return;
      if (this.readFailure) {
        const { status, reason } = this.readFailure;
        sendJson(response, status, aStatus(status, reason, "etcd is down"));
      } else if (list) {
        this.sendList(list[2] as FakeResource, list[1] ?? "", query, response);
      } else if (object) {
        this.sendObject(object[2] as FakeResource, object[1] ?? "", object[3] ?? "", response);
      } else {
        sendJson(response, 200, this.versionBody);
      }
    };
    if (this.readDelayMs === 0) {
      answer();
      return;
    }
    const timer = setTimeout(answer, this.readDelayMs);
    // The client gave up (its deadline): nothing left to answer.
    response.on("close", () => {
      clearTimeout(timer);
    });
  }

  private sendObject(
    resource: FakeResource,
    namespace: string,
    name: string,
    response: http.ServerResponse,
  ): void {
    const found = this.objects[resource].get(`${namespace}/${name}`);
    if (!found) {
      const group = resource === "statefulsets" ? ".apps" : "";
      const status = aStatus(404, "NotFound", `${resource}${group} "${name}" not found`);
      const details = { name, group: group.slice(1), kind: resource };
      sendJson(response, 404, { ...status, details });
      return;
    }
    const { apiVersion, kind } = RESOURCES[resource];
    sendJson(response, 200, { apiVersion, kind, ...found }, this.streamAnswers);
  }

  private sendList(
    resource: FakeResource,
    namespace: string | null,
    query: Record<string, string>,
    response: http.ServerResponse,
  ): void {
    if (this.listFailure !== null && namespace === null) {
      sendJson(
        response,
        this.listFailure,
        aStatus(this.listFailure, "InternalError", "list failed"),
      );
      return;
    }
    const token = query["continue"] ? decodeContinue(query["continue"]) : null;
    const items = [...this.objects[resource].entries()]
      .filter(([key]) => namespace === null || key.startsWith(`${namespace}/`))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, item]) => structuredClone(item));
    const offset = token?.offset ?? 0;
    const limit = query["limit"] ? Number(query["limit"]) : items.length;
    const page = items.slice(offset, offset + limit);
    const listVersion = token?.resourceVersion ?? this.resourceVersion();
    const metadata: JsonObject = { resourceVersion: listVersion };
    if (offset + limit < items.length) {
      metadata["continue"] = encodeContinue({
        resourceVersion: listVersion,
        offset: offset + limit,
      });
    }
    const { apiVersion, kind } = RESOURCES[resource];
    const list = { kind: `${kind}List`, apiVersion, metadata, items: page };
    sendJson(response, 200, list, this.streamAnswers);
  }

  private startWatch(
    resource: FakeResource,
    query: Record<string, string>,
    response: http.ServerResponse,
  ): void {
    const refusal = this.watchRefusals[resource];
    if (refusal !== null) {
      sendJson(response, refusal, aStatus(refusal, "InternalError", "watch refused"));
      return;
    }
    if (this.watchesEndAtOnce[resource]) {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end();
      return;
    }
    const fault = this.watchFaults[resource].shift();
    if (fault?.kind === "http") {
      sendJson(response, fault.status, aStatus(fault.status, fault.reason, "watch refused"));
      return;
    }
    response.writeHead(200, { "Content-Type": "application/json" });
    response.flushHeaders();
    const from = Number(query["resourceVersion"] ?? "0");
    if (fault?.kind === "error-event" || from < this.compactedVersion) {
      const code = fault?.code ?? 410;
      const reason = fault?.reason ?? "Expired";
      const message = `too old resource version: ${from} (${this.compactedVersion})`;
      writeEvent(response, "ERROR", aStatus(code, reason, message));
      response.end();
      return;
    }
    const watcher: Watcher = {
      resource,
      response,
      bookmarks: query["allowWatchBookmarks"] === "true",
      stalled: this.stallNewWatches,
    };
    this.watchers.add(watcher);
    response.on("close", () => {
      this.forget(watcher);
    });
    const timeoutSeconds = Number(query["timeoutSeconds"] ?? "0");
    if (timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => {
        this.forget(watcher);
        response.end();
      }, timeoutSeconds * 1000);
    }
    if (watcher.stalled) return;
    for (const event of this.history) {
      if (event.resource === resource && event.resourceVersion > from) {
        writeEvent(response, event.type, withTypeMeta(resource, event.object));
      }
    }
  }

  private publish(event: StoredEvent): void {
    this.history.push(event);
    for (const watcher of this.liveWatchers(event.resource)) {
      writeEvent(watcher.response, event.type, withTypeMeta(event.resource, event.object));
    }
  }

  private liveWatchers(resource?: FakeResource): Watcher[] {
    return [...this.watchers].filter((w) => !w.stalled && (!resource || w.resource === resource));
  }

  private forget(watcher: Watcher): void {
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
  }
}

function withTypeMeta(resource: FakeResource, object: JsonObject): JsonObject {
  const { apiVersion, kind } = RESOURCES[resource];
  return { ...object, apiVersion, kind };
}

function writeEvent(response: http.ServerResponse, type: string, object: unknown): void {
  if (!response.destroyed) response.write(`${JSON.stringify({ type, object })}\n`);
}

/** `streamed`: no Content-Length, the body in 16 KiB chunks, as a proxy or a large list may be. */
function sendJson(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  streamed = false,
): void {
  const text = JSON.stringify(body);
  if (streamed) {
    response.writeHead(status, { "Content-Type": "application/json" });
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length; offset += 16 * 1024) {
      response.write(bytes.subarray(offset, offset + 16 * 1024));
    }
    response.end();
    return;
  }
  response.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  response.end(text);
}

function aStatus(code: number, reason: string, message: string): JsonObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
}

function encodeContinue(token: { resourceVersion: string; offset: number }): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeContinue(text: string): { resourceVersion: string; offset: number } {
  return JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as {
    resourceVersion: string;
    offset: number;
  };
}
