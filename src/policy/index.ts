/** The policy engine: pure functions from raw Kubernetes JSON to findings and fixed objects. */
export { evaluateService, evaluateStatefulSetChange, formatFinding } from "./evaluate.js";
export type { ServiceContext } from "./evaluate.js";
export { evaluateGoverningService, needsGoverningService } from "./governing-service.js";
export {
  findAutoscaler,
  mergeAutoscalers,
  readAutoscaler,
  summarizeAutoscaler,
  withAutoscaler,
} from "./autoscalers.js";
export type { AutoscalerReading } from "./autoscalers.js";
export {
  describeAutoscaler,
  describeOrdinalRange,
  describeRangeFix,
  hasOrdinal,
  possibleOrdinals,
} from "./ordinal-range.js";
export type { OrdinalRange } from "./ordinal-range.js";
export {
  isExternallyAccessible,
  isStatefulSet,
  readPodNameSelector,
  STATEFULSET_API_VERSION,
  summarizePerPodService,
  summarizeService,
  summarizeStatefulSet,
  withReplicas,
} from "./objects.js";
export { parsePodTarget, toPodName } from "./pod-target.js";
export { evaluateStatefulSetApiVersion } from "./statefulset-api-version.js";
export type { ApiVersionEvaluation } from "./statefulset-api-version.js";
export { requiredLabels } from "./service-rules.js";
export * from "./types.js";
