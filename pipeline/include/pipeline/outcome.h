#pragma once

namespace pipeline {

/**
 * What a handler did with one consumed record. Done and Reject both advance the offset (Reject
 * after the record went to the DLQ or was counted as discarded); Retry re-delivers the record
 * after a backoff and does not count it as discarded.
 */
enum class Outcome { Done, Retry, Reject };

}  // namespace pipeline
