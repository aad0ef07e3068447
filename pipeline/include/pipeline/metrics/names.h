#pragma once

#include <string_view>

/**
 * The single catalogue of runtime metric names (docs/specs/instrumentation.md). Stage-specific
 * names live in each stage's <stage>_metrics.cc; every name starts with point_tron_ except the
 * conventional process_* and http_requests_total that existing dashboards already use.
 */
namespace pipeline::metrics::names {

// Standard per-stage set, registered by the runtime for every stage.
inline constexpr std::string_view kStageReceivedEvents = "point_tron_stage_received_events_total";
inline constexpr std::string_view kStageReceivedBytes = "point_tron_stage_received_bytes_total";
inline constexpr std::string_view kStageSentEvents = "point_tron_stage_sent_events_total";
inline constexpr std::string_view kStageSentBytes = "point_tron_stage_sent_bytes_total";
inline constexpr std::string_view kStageErrors = "point_tron_stage_errors_total";
inline constexpr std::string_view kStageDiscardedEvents = "point_tron_stage_discarded_events_total";
inline constexpr std::string_view kStageProcessingDuration =
    "point_tron_stage_processing_duration_seconds";
inline constexpr std::string_view kStageInFlightEvents = "point_tron_stage_in_flight_events";
inline constexpr std::string_view kBugs = "point_tron_bugs_total";
inline constexpr std::string_view kHealthStatus = "point_tron_health_status";
inline constexpr std::string_view kBuildInfo = "point_tron_build_info";

// Runtime internals.
inline constexpr std::string_view kLoopLag = "point_tron_loop_lag_seconds";
inline constexpr std::string_view kHttpRequests = "http_requests_total";
inline constexpr std::string_view kHttpRequestDuration = "point_tron_http_request_duration_seconds";
inline constexpr std::string_view kKafkaConsumerLag = "point_tron_kafka_consumer_lag_messages";
inline constexpr std::string_view kKafkaDeliveryErrors = "point_tron_kafka_delivery_errors_total";
inline constexpr std::string_view kKafkaProducerQueueMessages =
    "point_tron_kafka_producer_queue_messages";
inline constexpr std::string_view kKafkaBrokersUp = "point_tron_kafka_brokers_up";
inline constexpr std::string_view kKafkaRebalances = "point_tron_kafka_rebalances_total";
inline constexpr std::string_view kKafkaAssignedPartitions = "point_tron_kafka_assigned_partitions";
inline constexpr std::string_view kKafkaTxBytes = "point_tron_kafka_transmitted_bytes_total";
inline constexpr std::string_view kKafkaRxBytes = "point_tron_kafka_received_bytes_total";
inline constexpr std::string_view kMetricEventsPublished =
    "point_tron_metric_events_published_total";

// Process, with the names of the Prometheus client libraries' process collectors.
inline constexpr std::string_view kProcessCpuSeconds = "process_cpu_seconds_total";
inline constexpr std::string_view kProcessResidentMemory = "process_resident_memory_bytes";
inline constexpr std::string_view kProcessVirtualMemory = "process_virtual_memory_bytes";
inline constexpr std::string_view kProcessStartTime = "process_start_time_seconds";
inline constexpr std::string_view kProcessOpenFds = "process_open_fds";
inline constexpr std::string_view kProcessMaxFds = "process_max_fds";

}  // namespace pipeline::metrics::names
