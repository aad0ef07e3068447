#include "pipeline/config/config_source.h"

#include <fmt/format.h>
#include <unistd.h>  // environ
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <type_traits>

#include "pipeline/json.h"

namespace pipeline::config {
namespace {

constexpr int kMaxSuggestionDistance = 2;

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char asciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string toLower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), asciiLower);
  return out;
}

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kBlanks);
  return text.substr(first, last - first + 1);
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    const auto comma = text.find(',');
    const auto item = trim(text.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::string joinList(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent transposition as one edit, since
// swapped letters are the most common typo in hand-written keys and env names), or limit + 1 as
// soon as it is known to exceed `limit`. Three rolling rows: the transposition looks two back.
std::size_t editDistanceWithin(std::string_view a, std::string_view b, std::size_t limit) {
  const std::size_t cols = b.size() + 1;
  std::vector<std::size_t> before_previous(cols), previous(cols), current(cols);
  for (std::size_t j = 0; j < cols; ++j) previous[j] = j;
  std::size_t previous_minimum = 0;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    std::size_t row_minimum = i;
    for (std::size_t j = 1; j < cols; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before_previous[j - 2] + 1);
      }
      row_minimum = std::min(row_minimum, current[j]);
    }
    // Later rows are at least this row's minimum, or the previous row's plus one (transposition).
    if (row_minimum > limit && previous_minimum >= limit) return limit + 1;
    previous_minimum = row_minimum;
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return std::min(previous[cols - 1], limit + 1);
}

bool parseBool(std::string_view text, bool& out) {
  const std::string lower = toLower(trim(text));
  if (lower == "true" || lower == "yes" || lower == "1") {
    out = true;
    return true;
  }
  if (lower == "false" || lower == "no" || lower == "0") {
    out = false;
    return true;
  }
  return false;
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  text = trim(text);
  if (text.empty()) return false;
  if constexpr (std::is_floating_point_v<T>) {
    // from_chars rejects a leading '+', which YAML and humans both write.
    if (text.front() == '+') text.remove_prefix(1);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out);
  } else {
    if (text.front() == '+') text.remove_prefix(1);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 10);
    return ec == std::errc() && end == text.data() + text.size();
  }
}

template <typename T>
std::string numberExpectation(T min, T max) {
  if constexpr (std::is_floating_point_v<T>) {
    if (min == std::numeric_limits<T>::lowest() && max == std::numeric_limits<T>::max()) {
      return "must be a number";
    }
    return fmt::format("must be a number in [{}, {}]", min, max);
  } else {
    if (min == std::numeric_limits<T>::min() && max == std::numeric_limits<T>::max()) {
      return std::is_signed_v<T> ? "must be an integer" : "must be a non-negative integer";
    }
    return fmt::format("must be an integer in [{}, {}]", min, max);
  }
}

std::string readFile(const std::string& path, std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = fmt::format("cannot read configuration file \"{}\": is a directory", path);
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int saved = errno;
    error = fmt::format("cannot read configuration file \"{}\": {}", path,
                        std::generic_category().message(saved));
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = fmt::format("cannot read configuration file \"{}\": read error", path);
    return {};
  }
  return std::move(text).str();
}

}  // namespace

std::string envNameForKey(std::string_view key) {
  std::string out(kEnvPrefix);
  const bool passthrough = startsWith(key, kRdkafkaPrefix);
  const std::size_t plain_end = passthrough ? kRdkafkaPrefix.size() : key.size();
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '.') {
      out += i < plain_end ? "__" : "_";
    } else {
      out.push_back(asciiUpper(key[i]));
    }
  }
  return out;
}

std::string keyForEnvName(std::string_view env_name) {
  if (!startsWith(env_name, kEnvPrefix)) return {};
  const std::string rest = toLower(env_name.substr(kEnvPrefix.size()));
  std::string key;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '_' && i + 1 < rest.size() && rest[i + 1] == '_') {
      key.push_back('.');
      ++i;
    } else {
      key.push_back(rest[i]);
    }
  }
  // Every configuration key has a section: a variable without `__` (POINTTRON_CONFIG, the
  // scripts' POINTTRON_SKIP_INSTALL) is not configuration and is left to whoever reads it.
  if (key.find('.') == std::string::npos) return {};
  if (startsWith(key, kRdkafkaPrefix)) {
    std::replace(key.begin() + static_cast<std::ptrdiff_t>(kRdkafkaPrefix.size()), key.end(), '_',
                 '.');
  }
  return key;
}

bool isSecretKey(std::string_view key) noexcept {
  std::string_view name = key;
  if (startsWith(key, kRdkafkaPrefix)) {
    name.remove_prefix(kRdkafkaPrefix.size());
  } else if (const auto dot = key.rfind('.'); dot != std::string_view::npos) {
    name.remove_prefix(dot + 1);
  }
  // Fixed-size buffer: this runs for every log field and must not allocate or throw.
  char buffer[128];
  const std::size_t length = std::min(name.size(), sizeof(buffer));
  for (std::size_t i = 0; i < length; ++i) {
    const char c = name[i];
    buffer[i] = (c == '.' || c == '-') ? '_' : asciiLower(c);
  }
  const std::string_view normalized(buffer, length);

  const auto last_word_start = normalized.rfind('_');
  const std::string_view last_word = last_word_start == std::string_view::npos
                                         ? normalized
                                         : normalized.substr(last_word_start + 1);
  if (last_word == "file" || last_word == "path" || last_word == "location") return false;

  constexpr std::string_view kMarkers[] = {
      "token",   "secret",      "password",      "passwd",  "passphrase", "credential",
      "api_key", "apikey",      "private_key",   "authorization", "key_pem",
  };
  for (std::string_view marker : kMarkers) {
    if (normalized.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

Result<ConfigSource> ConfigSource::load(std::string_view file_path, const Environment& env) {
  if (file_path.empty()) return build({}, {}, env);
  std::string error;
  std::string text = readFile(std::string(file_path), error);
  if (!error.empty()) return Error{ErrorType::InvalidConfig, std::move(error)};
  return build(text, file_path, env);
}

Result<ConfigSource> ConfigSource::loadFromProcess(std::string_view file_path) {
  return load(file_path, environmentFrom(environ));
}

Result<ConfigSource> ConfigSource::fromYamlText(std::string_view yaml, std::string_view origin,
                                                const Environment& env) {
  return build(yaml, origin, env);
}

ConfigSource::Environment ConfigSource::environmentFrom(const char* const* envp) {
  Environment env;
  for (; envp != nullptr && *envp != nullptr; ++envp) {
    const std::string_view entry(*envp);
    const auto equals = entry.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, equals)), std::string(entry.substr(equals + 1)));
  }
  return env;
}

Result<ConfigSource> ConfigSource::build(std::string_view yaml, std::string_view origin,
                                         const Environment& env) {
  ConfigSource source;
  if (!trim(yaml).empty()) {
    if (Status status = source.addYaml(yaml, origin); !status) return status;
  }
  source.addEnvironment(env);
  return source;
}

Status ConfigSource::addYaml(std::string_view yaml, std::string_view origin) {
  YAML::Node root;
  // yaml-cpp reports everything by exception; this is the adapter boundary (style.md §5.1).
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    if (e.mark.is_null()) {
      return Status(ErrorType::InvalidConfig,
                    fmt::format("configuration file {}: YAML syntax error: {}", origin, e.msg));
    }
    return Status(ErrorType::InvalidConfig,
                  fmt::format("configuration file {}: YAML syntax error at line {}, column {}: {}",
                              origin, e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::exception& e) {
    return Status(ErrorType::InvalidConfig,
                  fmt::format("configuration file {}: invalid YAML: {}", origin, e.what()));
  }
  if (root.IsNull()) return Status::ok();
  if (!root.IsMap()) {
    return Status(ErrorType::InvalidConfig,
                  fmt::format("configuration file {}: the top level must be a map of sections",
                              origin));
  }

  const std::string origin_text(origin);
  std::function<Status(const YAML::Node&, const std::string&)> flatten =
      [&](const YAML::Node& node, const std::string& key) -> Status {
    const int line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
    auto fail = [&](std::string_view what) {
      return Status(ErrorType::InvalidConfig, fmt::format("configuration file {}: {}: {} (line {})",
                                                          origin, key, what, line));
    };
    Entry entry;
    entry.origin = origin_text;
    entry.line = line;
    switch (node.Type()) {
      case YAML::NodeType::Map:
        for (const auto& item : node) {
          if (!item.first.IsScalar() || item.first.Scalar().empty()) {
            return fail("a map key must be a non-empty scalar");
          }
          const std::string child =
              key.empty() ? item.first.Scalar() : key + "." + item.first.Scalar();
          if (Status status = flatten(item.second, child); !status) return status;
        }
        return Status::ok();
      case YAML::NodeType::Sequence:
        entry.is_list = true;
        for (const auto& item : node) {
          if (!item.IsScalar()) return fail("a list may contain only scalar values");
          entry.list.push_back(item.Scalar());
        }
        break;
      case YAML::NodeType::Scalar:
        entry.scalar = node.Scalar();
        break;
      case YAML::NodeType::Null:
        entry.is_null = true;
        break;
      case YAML::NodeType::Undefined:
        return Status::ok();
    }
    if (!entries_.emplace(key, std::move(entry)).second) {
      return fail("the key is given more than once");
    }
    return Status::ok();
  };
  try {
    return flatten(root, "");
  } catch (const std::exception& e) {
    return Status(ErrorType::InvalidConfig,
                  fmt::format("configuration file {}: invalid YAML: {}", origin, e.what()));
  }
}

void ConfigSource::addEnvironment(const Environment& env) {
  for (const auto& [name, value] : env) {
    std::string key = keyForEnvName(name);
    if (key.empty()) continue;
    Entry entry;
    entry.scalar = value;
    entry.origin = name;
    entries_.insert_or_assign(std::move(key), std::move(entry));
  }
}

bool ConfigSource::has(std::string_view key) const {
  const auto it = entries_.find(key);
  return it != entries_.end() && !it->second.is_null;
}

std::string ConfigSource::originOf(std::string_view key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? std::string() : it->second.origin;
}

const ConfigSource::Entry* ConfigSource::lookup(std::string_view key) const {
  read_keys_.emplace(key);
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.is_null) return nullptr;
  return &it->second;
}

Error ConfigSource::invalid(std::string_view key, const Entry& entry,
                            std::string_view expectation) const {
  std::string got;
  if (entry.is_list) {
    got = "a list";
  } else if (isSecretKey(key)) {
    got = kRedacted;
  } else {
    got = json::quote(entry.scalar);
  }
  return Error{ErrorType::InvalidConfig,
               fmt::format("{}: {} (got {} from {})", key, expectation, got, entry.origin)};
}

Error ConfigSource::missing(std::string_view key) {
  return Error{ErrorType::InvalidConfig,
               fmt::format("{}: required but not set (set it in the configuration file or in {})",
                           key, envNameForKey(key))};
}

void ConfigSource::remember(std::string_view key, Effective value) const {
  effective_.insert_or_assign(std::string(key), std::move(value));
}

void ConfigSource::rememberDefault(std::string_view key, std::string default_text) const {
  defaults_.insert_or_assign(std::string(key), std::move(default_text));
}

Result<std::string> ConfigSource::scalarOf(std::string_view key, const Entry& entry) const {
  if (entry.is_list) return invalid(key, entry, "must be a single value, not a list");
  return entry.scalar;
}

Result<std::string> ConfigSource::getString(std::string_view key,
                                            std::string_view default_value) const {
  rememberDefault(key, std::string(default_value));
  const Entry* entry = lookup(key);
  if (entry == nullptr) {
    remember(key, std::string(default_value));
    return std::string(default_value);
  }
  auto value = scalarOf(key, *entry);
  if (value) remember(key, *value);
  return value;
}

Result<std::string> ConfigSource::requireString(std::string_view key) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  auto value = scalarOf(key, *entry);
  if (!value) return value;
  if (value->empty()) return invalid(key, *entry, "must not be empty");
  remember(key, *value);
  return value;
}

Result<bool> ConfigSource::getBool(std::string_view key, bool default_value) const {
  rememberDefault(key, default_value ? "true" : "false");
  if (lookup(key) == nullptr) {
    remember(key, default_value);
    return default_value;
  }
  return requireBool(key);
}

Result<bool> ConfigSource::requireBool(std::string_view key) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  auto text = scalarOf(key, *entry);
  if (!text) return text.error();
  bool value = false;
  if (!parseBool(*text, value)) {
    return invalid(key, *entry, "must be a boolean: true/false, yes/no or 1/0");
  }
  remember(key, value);
  return value;
}

template <typename T>
Result<T> ConfigSource::readNumber(std::string_view key, const Entry& entry, T min, T max) const {
  auto text = scalarOf(key, entry);
  if (!text) return text.error();
  T value{};
  // `!(a <= b)` rather than `a > b` so that a NaN bound can never let a value through.
  if (!parseNumber(*text, value) || !(min <= value) || !(value <= max)) {
    return invalid(key, entry, numberExpectation(min, max));
  }
  remember(key, value);
  return value;
}

Result<std::int64_t> ConfigSource::getInt(std::string_view key, std::int64_t default_value,
                                          std::int64_t min, std::int64_t max) const {
  rememberDefault(key, std::to_string(default_value));
  const Entry* entry = lookup(key);
  if (entry == nullptr) {
    remember(key, default_value);
    return default_value;
  }
  return readNumber(key, *entry, min, max);
}

Result<std::int64_t> ConfigSource::requireInt(std::string_view key, std::int64_t min,
                                              std::int64_t max) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  return readNumber(key, *entry, min, max);
}

Result<std::uint64_t> ConfigSource::getUint(std::string_view key, std::uint64_t default_value,
                                            std::uint64_t min, std::uint64_t max) const {
  rememberDefault(key, std::to_string(default_value));
  const Entry* entry = lookup(key);
  if (entry == nullptr) {
    remember(key, default_value);
    return default_value;
  }
  return readNumber(key, *entry, min, max);
}

Result<std::uint64_t> ConfigSource::requireUint(std::string_view key, std::uint64_t min,
                                                std::uint64_t max) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  return readNumber(key, *entry, min, max);
}

Result<double> ConfigSource::getDouble(std::string_view key, double default_value, double min,
                                       double max) const {
  rememberDefault(key, fmt::format("{}", default_value));
  const Entry* entry = lookup(key);
  if (entry == nullptr) {
    remember(key, default_value);
    return default_value;
  }
  return readNumber(key, *entry, min, max);
}

Result<double> ConfigSource::requireDouble(std::string_view key, double min, double max) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  return readNumber(key, *entry, min, max);
}

Result<std::vector<std::string>> ConfigSource::getStringList(
    std::string_view key, std::vector<std::string> default_value) const {
  rememberDefault(key, joinList(default_value, ","));
  const Entry* entry = lookup(key);
  std::vector<std::string> value;
  if (entry == nullptr) {
    value = std::move(default_value);
  } else if (entry->is_list) {
    value = entry->list;
  } else {
    value = splitList(entry->scalar);
  }
  remember(key, value);
  return value;
}

Result<std::vector<std::string>> ConfigSource::requireStringList(std::string_view key) const {
  const Entry* entry = lookup(key);
  if (entry == nullptr) return missing(key);
  std::vector<std::string> value = entry->is_list ? entry->list : splitList(entry->scalar);
  remember(key, value);
  if (value.empty()) return invalid(key, *entry, "must not be an empty list");
  return value;
}

Result<std::string> ConfigSource::getChoice(std::string_view key, std::string_view default_value,
                                            std::initializer_list<std::string_view> choices) const {
  rememberDefault(key, std::string(default_value));
  const Entry* entry = lookup(key);
  if (entry == nullptr) {
    remember(key, std::string(default_value));
    return std::string(default_value);
  }
  auto text = scalarOf(key, *entry);
  if (!text) return text;
  const std::string lower = toLower(trim(*text));
  for (std::string_view choice : choices) {
    if (toLower(choice) == lower) {
      remember(key, std::string(choice));
      return std::string(choice);
    }
  }
  std::string expected;
  for (std::string_view choice : choices) {
    if (!expected.empty()) expected += ", ";
    expected += choice;
  }
  return invalid(key, *entry, "must be one of " + expected);
}

std::map<std::string, std::string> ConfigSource::prefixed(std::string_view prefix) const {
  consumePrefix(prefix);
  std::map<std::string, std::string> out;
  for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
    if (!startsWith(it->first, prefix)) break;
    if (it->second.is_null) continue;
    out.emplace(it->first.substr(prefix.size()),
                it->second.is_list ? joinList(it->second.list, ",") : it->second.scalar);
  }
  return out;
}

void ConfigSource::consumePrefix(std::string_view prefix) const {
  read_prefixes_.emplace_back(prefix);
}

Status ConfigSource::checkUnknown() const {
  std::vector<std::string> problems;
  for (const auto& [key, entry] : entries_) {
    if (read_keys_.contains(key)) continue;
    const bool under_prefix =
        std::any_of(read_prefixes_.begin(), read_prefixes_.end(),
                    [&key = key](const std::string& prefix) { return startsWith(key, prefix); });
    if (under_prefix) continue;

    std::string problem =
        fmt::format("unknown configuration key \"{}\" (from {})", key, entry.origin);
    const std::string* best = nullptr;
    std::size_t best_distance = kMaxSuggestionDistance + 1;
    for (const auto& known : read_keys_) {
      // The length difference is a lower bound of the distance: most keys are skipped without
      // the quadratic comparison (a file of long unknown keys would otherwise cost seconds).
      const std::size_t length_difference =
          key.size() > known.size() ? key.size() - known.size() : known.size() - key.size();
      if (length_difference >= best_distance) continue;
      const std::size_t distance = editDistanceWithin(key, known, best_distance - 1);
      if (distance < best_distance) {
        best_distance = distance;
        best = &known;
      }
    }
    if (best != nullptr) problem += fmt::format(", did you mean \"{}\"?", *best);
    problems.push_back(std::move(problem));
  }
  if (problems.empty()) return Status::ok();
  return Status(ErrorType::InvalidConfig, joinList(problems, "; "));
}

std::string ConfigSource::describe() const {
  std::set<std::string, std::less<>> all_keys;
  for (const auto& [key, entry] : entries_) all_keys.insert(key);
  for (const auto& [key, value] : effective_) all_keys.insert(key);

  json::Writer writer;
  writer.beginObject();
  for (const auto& key : all_keys) {
    writer.key(key);
    if (isSecretKey(key)) {
      writer.value(kRedacted);
      continue;
    }
    if (const auto it = effective_.find(key); it != effective_.end()) {
      std::visit(
          [&writer](const auto& value) {
            using V = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<V, std::vector<std::string>>) {
              writer.beginArray();
              for (const auto& item : value) writer.value(item);
              writer.endArray();
            } else {
              writer.value(value);
            }
          },
          it->second);
      continue;
    }
    const Entry& entry = entries_.find(key)->second;
    if (entry.is_null) {
      writer.null();
    } else if (entry.is_list) {
      writer.beginArray();
      for (const auto& item : entry.list) writer.value(item);
      writer.endArray();
    } else {
      writer.value(entry.scalar);
    }
  }
  writer.endObject();
  return std::move(writer).str();
}

std::vector<std::string> ConfigSource::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(key);
  return out;
}

std::vector<ConfigSource::ReadKey> ConfigSource::readKeys() const {
  std::vector<ReadKey> out;
  out.reserve(read_keys_.size());
  for (const auto& key : read_keys_) {
    ReadKey info;
    info.key = key;
    info.is_set = has(key);
    info.is_secret = isSecretKey(key);
    if (const auto it = defaults_.find(key); it != defaults_.end()) {
      info.default_value = it->second;
      info.has_default = true;
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace pipeline::config
