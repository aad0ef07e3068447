#pragma once

/**
 * Configuration keys, their sources and their precedence.
 *
 * Keys
 *   A key is a dotted path of snake_case segments, `<section>.<name>`, with the unit as a suffix
 *   (`kafka.poll_timeout_ms`). In the YAML file, nested maps are flattened by joining their keys
 *   with `.`, at any depth:
 *
 *       kafka:
 *         bootstrap_servers: localhost:9092     # kafka.bootstrap_servers
 *         rdkafka:
 *           socket.timeout.ms: 30000            # kafka.rdkafka.socket.timeout.ms
 *       fetcher:
 *         node_urls: [http://a, http://b]       # fetcher.node_urls (a list)
 *
 *   A value is a scalar or a list of scalars. A list of maps, or a map inside a list, is an error.
 *   A YAML null (`key:` or `key: ~`) counts as "not set": the getter's default applies.
 *
 * Environment
 *   `POINTTRON_` + the key in upper case with `.` replaced by `__`:
 *   `kafka.bootstrap_servers` ⇄ `POINTTRON_KAFKA__BOOTSTRAP_SERVERS`. Environment variables are
 *   matched case-insensitively after the prefix (the key is the lower-cased name).
 *   A list in the environment is comma-separated
 *   (`POINTTRON_FETCHER__NODE_URLS=http://a,http://b`); items are trimmed of surrounding blanks. A scalar in the file read as a list is split the
 *   same way, so both sources accept the same spelling.
 *
 *   librdkafka passthrough: under `kafka.rdkafka.` the key is librdkafka's own property name, which
 *   contains dots. Environment names cannot contain dots, so inside that subtree a single `_`
 *   stands for `.`: `POINTTRON_KAFKA__RDKAFKA__SOCKET_TIMEOUT_MS` ⇄
 *   `kafka.rdkafka.socket.timeout.ms`. This is lossless because no librdkafka property name
 *   contains an underscore.
 *
 *   Every variable of the form `POINTTRON_<SECTION>__<KEY>` is a key, even when no code reads it,
 *   so a misspelt variable is reported by checkUnknown() rather than silently ignored. Variables
 *   without `__` (`POINTTRON_CONFIG`, scripts' own settings) are not configuration keys.
 *
 * Precedence
 *   built-in default (given to the getter) < file < environment. The environment replaces the
 *   whole value of a key, including a list.
 *
 * Unknown keys
 *   Every getter records the key it was asked for, whether or not the key is set. After a stage
 *   has read everything it knows, checkUnknown() fails on any key that is set in the file or the
 *   environment but was never asked for, and suggests the closest asked-for key when one is at
 *   most two edits away (a transposition counts as one edit). Passthrough sections are accepted
 *   wholesale with prefixed() or consumePrefix().
 *
 * Secrets
 *   isSecretKey() decides which values are never shown: describe(), error messages and log
 *   fields (pipeline/log/logging.h) print "<redacted>" instead.
 */

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pipeline/status.h"

namespace pipeline::config {

inline constexpr std::string_view kEnvPrefix = "POINTTRON_";
inline constexpr std::string_view kRdkafkaPrefix = "kafka.rdkafka.";
inline constexpr std::string_view kRedacted = "<redacted>";

/**
 * The environment variable that overrides `key`
 * (`kafka.rdkafka.a.b` → `POINTTRON_KAFKA__RDKAFKA__A_B`).
 */
std::string envNameForKey(std::string_view key);

/** The key an environment variable sets, or "" when the name does not start with `POINTTRON_`. */
std::string keyForEnvName(std::string_view env_name);

/**
 * True when the value of `key` must never be logged or shown.
 *
 * The rule looks at the key's name: its last dotted segment, or for `kafka.rdkafka.*` the whole
 * librdkafka property name (whose words are separated by dots). After replacing `.` and `-` with
 * `_` and lower-casing, the name is secret when it contains any of: token, secret, password,
 * passwd, passphrase, credential, api_key, apikey, private_key, authorization, or key_pem
 * (librdkafka's inline `ssl.key.pem`). Matching is by substring, so it errs towards redacting
 * (`tokens_per_second` is redacted too; rename such a key rather than weaken the rule).
 * Exception: a name whose last word is `file`, `path` or `location` names where a secret is
 * stored, not the secret itself, and stays visible because it is what an operator needs to
 * debug a start-up failure (`tls.key_file`, `ssl.keystore.location`).
 */
bool isSecretKey(std::string_view key) noexcept;

/**
 * The merged configuration of one process: file keys overridden by environment keys, with typed
 * getters and the bookkeeping behind checkUnknown().
 *
 * Lifecycle: build once at start-up with load()/loadFromProcess(), hand a const reference to each
 * component's `parse()`, then call checkUnknown() once every component has read its keys, and log
 * describe(). Values never change after construction; the getters are const but record which keys
 * were asked for (mutable bookkeeping), so the object is NOT thread-safe: use it from the thread
 * that starts the process. Copyable and movable; the owner is the runtime.
 *
 * Getter error contract: every getter returns ErrorType::InvalidConfig with a one-line message that
 * names the key, what was expected, and the offending value with its origin (the file path or the
 * environment variable), e.g.
 *   `kafka.poll_timeout_ms: must be an integer in [1, 60000] (got "abc" from POINTTRON_KAFKA__POLL_TIMEOUT_MS)`.
 * The value of a secret key is shown as <redacted>. A list where a scalar is expected is an error.
 * `require*` variants also fail when the key is not set (or is null):
 *   `kafka.bootstrap_servers: required but not set (set it in the configuration file or in POINTTRON_KAFKA__BOOTSTRAP_SERVERS)`.
 */
class ConfigSource {
 public:
  /** Environment variables by name. Only names starting with `POINTTRON_` are used. */
  using Environment = std::map<std::string, std::string, std::less<>>;

  /** An empty configuration: every getter returns its default. */
  ConfigSource() = default;

  /**
   * Reads the YAML file at `file_path` (skipped when empty) and applies `env` on top.
   * Errors (ErrorType::InvalidConfig): the file cannot be read (message names the path and the
   * OS reason); YAML syntax error (names the file, line and column); a value that is neither a
   * scalar nor a list of scalars; the same key given twice in the file.
   */
  [[nodiscard]] static Result<ConfigSource> load(std::string_view file_path,
                                                 const Environment& env);

  /** load() with the real process environment. */
  [[nodiscard]] static Result<ConfigSource> loadFromProcess(std::string_view file_path);

  /** As load(), with the YAML given as text; `origin` stands in for the file path in messages. */
  [[nodiscard]] static Result<ConfigSource> fromYamlText(std::string_view yaml,
                                                         std::string_view origin,
                                                         const Environment& env);

  /** Converts a `NAME=VALUE` array ending in nullptr (`environ`, main's envp). */
  static Environment environmentFrom(const char* const* envp);

  /** True when `key` is set (and not null). Does not count as reading the key. */
  bool has(std::string_view key) const;

  /** The file path or environment variable that set `key`, or "" when it is not set. */
  std::string originOf(std::string_view key) const;

  [[nodiscard]] Result<std::string> getString(std::string_view key,
                                              std::string_view default_value) const;
  /** Also fails when the value is empty. */
  [[nodiscard]] Result<std::string> requireString(std::string_view key) const;

  /** Accepts true/false, yes/no, 1/0, case-insensitively. */
  [[nodiscard]] Result<bool> getBool(std::string_view key, bool default_value) const;
  [[nodiscard]] Result<bool> requireBool(std::string_view key) const;

  /** Decimal integer within the inclusive range [min, max]. The default is not range-checked. */
  [[nodiscard]] Result<std::int64_t> getInt(
      std::string_view key, std::int64_t default_value,
      std::int64_t min = std::numeric_limits<std::int64_t>::min(),
      std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;
  [[nodiscard]] Result<std::int64_t> requireInt(
      std::string_view key, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
      std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;

  /** Non-negative decimal integer within the inclusive range [min, max]. */
  [[nodiscard]] Result<std::uint64_t> getUint(
      std::string_view key, std::uint64_t default_value, std::uint64_t min = 0,
      std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const;
  [[nodiscard]] Result<std::uint64_t> requireUint(
      std::string_view key, std::uint64_t min = 0,
      std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) const;

  /** Finite decimal number within the inclusive range [min, max]. */
  [[nodiscard]] Result<double> getDouble(std::string_view key, double default_value,
                                         double min = std::numeric_limits<double>::lowest(),
                                         double max = std::numeric_limits<double>::max()) const;
  [[nodiscard]] Result<double> requireDouble(
      std::string_view key, double min = std::numeric_limits<double>::lowest(),
      double max = std::numeric_limits<double>::max()) const;

  /** A YAML list of scalars, or a comma-separated scalar; empty items are dropped. */
  [[nodiscard]] Result<std::vector<std::string>> getStringList(
      std::string_view key, std::vector<std::string> default_value) const;
  /** Also fails when the list is empty. */
  [[nodiscard]] Result<std::vector<std::string>> requireStringList(std::string_view key) const;

  /**
   * One of `choices` (matched case-insensitively, returned as spelled in `choices`), e.g. a log
   * level or a compression codec. Fails with "must be one of a, b, c (got ...)".
   */
  [[nodiscard]] Result<std::string> getChoice(
      std::string_view key, std::string_view default_value,
      std::initializer_list<std::string_view> choices) const;

  /**
   * Every set key that starts with `prefix`, as suffix → value (a list is joined with commas,
   * which is how librdkafka spells lists). Marks the whole prefix as read (see consumePrefix()).
   */
  std::map<std::string, std::string> prefixed(std::string_view prefix) const;

  /** Accepts every key under `prefix` (end it with '.') in checkUnknown() without reading it. */
  void consumePrefix(std::string_view prefix) const;

  /**
   * Fails (ErrorType::InvalidConfig) when a key set in the file or the environment was neither
   * read nor under a consumed prefix. All such keys are listed in one line, sorted, e.g.
   * `unknown configuration key "kafka.bootstrap_servrs" (from /etc/pointtron.yaml), did you mean "kafka.bootstrap_servers"?`
   */
  [[nodiscard]] Status checkUnknown() const;

  /**
   * The effective configuration as one JSON object of key → value, sorted by key, for the
   * start-up log line: every key read (with its typed value, default included) plus every key set
   * but not read (as written). Secret values are "<redacted>".
   */
  std::string describe() const;

  /** Every key set in the file or the environment, sorted. */
  std::vector<std::string> keys() const;

  /** A key some getter asked for, as readKeys() reports it. */
  struct ReadKey {
    std::string key;
    /** The getter's built-in default as text: booleans `true`/`false`, numbers in decimal, a
     *  list's items joined with ','. Empty when has_default is false. A default is a constant of
     *  the code, never a secret, so it is not redacted. */
    std::string default_value;
    bool has_default = false;  // false when only require* getters asked for the key
    bool is_set = false;       // set (and not null) in the file or the environment
    bool is_secret = false;    // isSecretKey(key)
  };

  /**
   * Every key a getter asked for so far, sorted, with the default it was given (when a key is
   * read twice, the last default). After every parser has run, this is the code's own list of
   * keys, which docs/specs/configuration.md documents. Does not count as reading anything.
   */
  std::vector<ReadKey> readKeys() const;

 private:
  struct Entry {
    std::string scalar;
    std::vector<std::string> list;
    std::string origin;  // file path or environment variable name
    bool is_list = false;
    bool is_null = false;
    int line = 0;        // 1-based line in the file; 0 for the environment
  };
  using Effective = std::variant<std::string, bool, std::int64_t, std::uint64_t, double,
                                 std::vector<std::string>>;

  static Result<ConfigSource> build(std::string_view yaml, std::string_view origin,
                                    const Environment& env);
  [[nodiscard]] Status addYaml(std::string_view yaml, std::string_view origin);
  void addEnvironment(const Environment& env);

  // Records the read and returns the entry when the key is set and not null.
  const Entry* lookup(std::string_view key) const;
  // The scalar of `entry`, or the "must be a single value" error.
  Result<std::string> scalarOf(std::string_view key, const Entry& entry) const;
  Error invalid(std::string_view key, const Entry& entry, std::string_view expectation) const;
  static Error missing(std::string_view key);
  void remember(std::string_view key, Effective value) const;
  void rememberDefault(std::string_view key, std::string default_text) const;

  template <typename T>
  Result<T> readNumber(std::string_view key, const Entry& entry, T min, T max) const;

  std::map<std::string, Entry, std::less<>> entries_;
  mutable std::set<std::string, std::less<>> read_keys_;
  mutable std::vector<std::string> read_prefixes_;
  mutable std::map<std::string, Effective, std::less<>> effective_;
  mutable std::map<std::string, std::string, std::less<>> defaults_;  // key → default as text
};

}  // namespace pipeline::config
