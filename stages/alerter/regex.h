#pragma once

#include <memory>
#include <regex>
#include <string>

#include "pipeline/status.h"

namespace stages::alerter {

/**
 * Compiles a label matcher's regular expression (ECMAScript grammar; the callers match whole
 * values with std::regex_match). On failure, InvalidConfig whose message says what is wrong.
 *
 * Numbers in repetitions ({n}, {n,}, {n,m}) and back-references (\n) must be at most 1000, the
 * repetition limit of Prometheus and Alertmanager (Go's regexp): std::regex accumulates them in
 * a `long` without an overflow check, which is undefined behaviour for longer digit runs.
 *
 * The pattern with its repetitions written out (`(ab){3}` as `(ab)(ab)(ab)`) must be at most
 * 10,000 characters long. std::regex builds one automaton state per copy, up to its own limit
 * of 100,000 states, and that automaton is walked for every label value matched; past 10,000 the
 * pattern is refused with an error saying so, rather than the library's (which names a compiler
 * macro) after the whole automaton was built.
 */
pipeline::Result<std::shared_ptr<const std::regex>> compileRegex(const std::string& pattern);

}  // namespace stages::alerter
