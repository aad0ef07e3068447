// docs/specs/configuration.md against the code's own list of keys.
//
// The code's list: every parser runs on one ConfigSource, which then reports every key a getter
// asked for, with the getter's default (ConfigSource::readKeys()). The doc's list: every markdown
// table whose first column is `key`. A key read outside these parsers must be added below, or this
// test cannot see it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/log/logging.h"
#include "pipeline/runtime.h"
#include "stages/aggregator/aggregator_config.h"
#include "stages/alerter/alerter_config.h"
#include "stages/decoder/decoder_config.h"
#include "stages/fetcher/fetcher_config.h"
#include "stages/persister/backup/backup_config.h"
#include "stages/persister/persister_config.h"

namespace {

using pipeline::config::ConfigSource;

constexpr std::string_view kDocPath = "docs/specs/configuration.md";

// The stage whose definition RuntimeConfig::parse is given; `<stage>` in a documented default
// stands for its name.
constexpr std::string_view kStage = "fetcher";

// The only set values: the backup.s3.* keys besides the bucket are read only when a bucket is
// set, and the S3 settings are validated (access key and secret required) once they are read.
// These three keys keep their defaults in readKeys(), which reports a getter's default whether or
// not the key is set.
constexpr std::string_view kYaml = R"(
backup:
  s3:
    bucket: reference-bucket
    access_key_id: REFERENCEKEY
    secret_access_key: reference-secret
)";

// Keys whose documented default is descriptive and cannot be compared with the one value a single
// run produces. Keep this list short; every entry says why.
const std::map<std::string, std::string_view, std::less<>> kDefaultNotCompared = {
    // Each stage's main.cc passes its own default_http_port in its StageDefinition; the doc lists
    // them all, this test runs RuntimeConfig::parse for one made-up definition.
    {"http.port", "the default is per stage (StageDefinition::default_http_port)"},
};

// Units a key's suffix names and the word the type column must then contain.
const std::map<std::string, std::string, std::less<>> kUnitBySuffix = {
    {"_ms", "ms"}, {"_s", "s"}, {"_bytes", "bytes"}, {"_days", "days"}, {"_rps", "requests/s"}};

struct CodeKey {
  std::string default_value;
  bool secret = false;
};

struct DocRow {
  std::string key;
  std::string environment;
  std::string type;
  std::string default_text;
  int line = 0;
};

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

std::string withoutBackticks(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != '`') out.push_back(c);
  }
  return out;
}

std::string hostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

// The documented default as the code would spell it: backticks dropped, one trailing remark in
// parentheses dropped ("104 857 600 (100 MiB)"), digit-group separators (space, thin space,
// narrow or regular no-break space) dropped, and "empty", "none" or "—" read as the empty string.
std::string normalizeDefault(std::string_view text) {
  std::string value = trim(withoutBackticks(text));
  if (!value.empty() && value.back() == ')') {
    int depth = 0;
    for (std::size_t i = value.size(); i-- > 0;) {
      if (value[i] == ')') ++depth;
      if (value[i] == '(' && --depth == 0) {
        if (i > 0) value = trim(std::string_view(value).substr(0, i));
        break;
      }
    }
  }
  static const std::vector<std::string> kSeparators = {" ", "\u2009", "\u202f", "\u00a0"};
  const auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
  std::string out;
  for (std::size_t i = 0; i < value.size();) {
    bool skipped = false;
    if (!out.empty() && isDigit(out.back())) {
      for (const auto& separator : kSeparators) {
        const std::size_t after = i + separator.size();
        if (value.compare(i, separator.size(), separator) == 0 && after < value.size() &&
            isDigit(value[after])) {
          i = after;
          skipped = true;
          break;
        }
      }
    }
    if (!skipped) out.push_back(value[i++]);
  }
  if (out == "empty" || out == "none" || out == "\u2014") return {};
  return out;
}

// Replaces what a documented default may name instead of spelling it: `<stage>`, `<key>` (that
// key's default) and "the host name".
std::string resolvePlaceholders(std::string text, const std::map<std::string, CodeKey>& code) {
  if (text == "the host name") return hostName();
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto close = text[i] == '<' ? text.find('>', i) : std::string::npos;
    if (close != std::string::npos) {
      const std::string name = text.substr(i + 1, close - i - 1);
      if (name == "stage") {
        out += kStage;
        i = close + 1;
        continue;
      }
      if (const auto it = code.find(name); it != code.end()) {
        out += it->second.default_value;
        i = close + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

bool sameNumber(const std::string& a, const std::string& b) {
  const auto parse = [](const std::string& text, double& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size();
  };
  double x = 0;
  double y = 0;
  return parse(a, x) && parse(b, y) && x == y;
}

// Splits a markdown table row into trimmed cells; `\|` does not split.
std::vector<std::string> cells(std::string_view row) {
  std::vector<std::string> out;
  std::string cell;
  for (std::size_t i = 1; i < row.size(); ++i) {  // row[0] is the leading '|'
    if (row[i] == '\\' && i + 1 < row.size() && row[i + 1] == '|') {
      cell.push_back('|');
      ++i;
    } else if (row[i] == '|') {
      out.push_back(trim(cell));
      cell.clear();
    } else {
      cell.push_back(row[i]);
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

// Every key the parsers read, with its default: the code's own list.
const std::map<std::string, CodeKey>& codeKeys() {
  static const std::map<std::string, CodeKey> keys = [] {
    std::map<std::string, CodeKey> out;
    auto source = ConfigSource::fromYamlText(kYaml, "configuration_reference_test", {});
    EXPECT_TRUE(source.has_value()) << source.error().message;
    if (!source) return out;
    const auto expectOk = [](std::string_view parser, const pipeline::Status& status) {
      EXPECT_TRUE(status) << parser << " failed: " << status.toString();
    };
    expectOk("LogOptions::fromConfig",
             pipeline::log::LogOptions::fromConfig(*source, std::string(kStage)).status());
    expectOk("RuntimeConfig::parse",
             pipeline::RuntimeConfig::parse(*source, {.name = std::string(kStage)}).status());
    expectOk("FetcherConfig::parse", stages::fetcher::FetcherConfig::parse(*source).status());
    expectOk("DecoderConfig::parse", stages::decoder::DecoderConfig::parse(*source).status());
    expectOk("AggregatorConfig::parse",
             stages::aggregator::AggregatorConfig::parse(*source).status());
    // Reads backup.* through BackupConfig::parse.
    expectOk("PersisterConfig::parse", stages::persister::PersisterConfig::parse(*source).status());
    expectOk("AlerterConfig::parse", stages::alerter::AlerterConfig::parse(*source).status());
    for (const auto& read : source->readKeys()) {
      EXPECT_TRUE(read.has_default) << read.key << " is read only by a require* getter";
      out[read.key] = CodeKey{read.default_value, read.is_secret};
    }
    return out;
  }();
  return keys;
}

struct Doc {
  std::vector<DocRow> rows;
  std::vector<std::string> problems;  // tables without a needed column
};

const Doc& doc() {
  static const Doc parsed = [] {
    Doc out;
    const std::string path = std::string(POINTTRON_SOURCE_DIR) + "/" + std::string(kDocPath);
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::map<std::string, std::size_t> columns;  // of the current key table; empty outside one
    bool separator_next = false;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty() || line.front() != '|') {
        columns.clear();
        continue;
      }
      const auto row = cells(line);
      if (columns.empty()) {
        if (row.empty() || row.front() != "key") continue;
        for (std::size_t i = 0; i < row.size(); ++i) columns[row[i]] = i;
        for (const char* needed : {"environment", "type", "default"}) {
          if (!columns.contains(needed)) {
            out.problems.push_back(std::string(kDocPath) + ":" + std::to_string(number) +
                                   ": key table without a `" + needed + "` column");
          }
        }
        separator_next = true;
        continue;
      }
      if (separator_next) {
        separator_next = false;
        continue;
      }
      const auto at = [&](const char* column) {
        const auto it = columns.find(column);
        return it != columns.end() && it->second < row.size() ? row[it->second] : std::string();
      };
      out.rows.push_back(DocRow{.key = withoutBackticks(at("key")),
                                .environment = withoutBackticks(at("environment")),
                                .type = at("type"),
                                .default_text = at("default"),
                                .line = number});
    }
    return out;
  }();
  return parsed;
}

std::string where(const DocRow& row) {
  return std::string(kDocPath) + ":" + std::to_string(row.line) + ": " + row.key;
}

TEST(ConfigurationReference, DocHasKeyTables) {
  EXPECT_TRUE(doc().problems.empty()) << join(doc().problems);
  // Sanity: both lists are far from empty, so the checks below compare something.
  EXPECT_GT(doc().rows.size(), 50u);
  EXPECT_GT(codeKeys().size(), 50u);
}

TEST(ConfigurationReference, EveryKeyReadIsDocumented) {
  std::set<std::string> documented;
  for (const auto& row : doc().rows) documented.insert(row.key);
  std::vector<std::string> missing;
  for (const auto& [key, info] : codeKeys()) {
    if (!documented.contains(key)) {
      missing.push_back(key + " (default \"" + info.default_value + "\")");
    }
  }
  EXPECT_TRUE(missing.empty()) << "keys read by the code but missing from " << kDocPath << ":"
                               << join(missing);
}

TEST(ConfigurationReference, EveryDocumentedKeyIsRead) {
  std::vector<std::string> unread;
  std::map<std::string, int> seen;
  std::vector<std::string> duplicates;
  for (const auto& row : doc().rows) {
    if (const auto [it, inserted] = seen.emplace(row.key, row.line); !inserted) {
      duplicates.push_back(where(row) + " (also line " + std::to_string(it->second) + ")");
    }
    // A pattern such as kafka.rdkafka.<property> stands for keys the code accepts wholesale.
    if (row.key.find('<') != std::string::npos) continue;
    if (!codeKeys().contains(row.key)) unread.push_back(where(row));
  }
  EXPECT_TRUE(unread.empty()) << "documented keys no parser reads:" << join(unread);
  EXPECT_TRUE(duplicates.empty()) << "keys documented twice:" << join(duplicates);
  EXPECT_TRUE(seen.contains("kafka.rdkafka.<property>"));
}

TEST(ConfigurationReference, EnvironmentNamesFollowTheRule) {
  std::vector<std::string> wrong;
  for (const auto& row : doc().rows) {
    const std::string expected = pipeline::config::envNameForKey(row.key);
    if (row.environment != expected) {
      wrong.push_back(where(row) + ": documented \"" + row.environment + "\", the rule gives \"" +
                      expected + "\"");
    } else if (row.key.find('<') == std::string::npos &&
               pipeline::config::keyForEnvName(row.environment) != row.key) {
      wrong.push_back(where(row) + ": \"" + row.environment + "\" does not map back to the key");
    }
  }
  EXPECT_TRUE(wrong.empty()) << "environment column differs from envNameForKey():" << join(wrong);
}

TEST(ConfigurationReference, DefaultsMatchTheCode) {
  std::vector<std::string> wrong;
  for (const auto& row : doc().rows) {
    const auto it = codeKeys().find(row.key);
    if (it == codeKeys().end() || kDefaultNotCompared.contains(row.key)) continue;
    const std::string documented =
        resolvePlaceholders(normalizeDefault(row.default_text), codeKeys());
    const std::string& code = it->second.default_value;
    if (documented != code && !sameNumber(documented, code)) {
      wrong.push_back(where(row) + ": documented \"" + row.default_text + "\" (read as \"" +
                      documented + "\"), code \"" + code + "\"");
    }
  }
  EXPECT_TRUE(wrong.empty()) << "defaults that differ:" << join(wrong);
}

TEST(ConfigurationReference, TypeNamesTheUnitAndSecrecy) {
  std::vector<std::string> wrong;
  for (const auto& row : doc().rows) {
    std::vector<std::string> words;
    std::stringstream type(withoutBackticks(row.type));
    for (std::string word; std::getline(type, word, ',');) words.push_back(trim(word));
    const auto names = [&](std::string_view word) {
      for (const auto& w : words) {
        if (w == word || w == "**" + std::string(word) + "**") return true;
      }
      return false;
    };
    for (const auto& [suffix, unit] : kUnitBySuffix) {
      if (row.key.ends_with(suffix) && !names(unit)) {
        wrong.push_back(where(row) + ": type \"" + row.type + "\" does not name the unit " + unit);
      }
    }
    const auto it = codeKeys().find(row.key);
    if (it != codeKeys().end() && it->second.secret != names("secret")) {
      wrong.push_back(where(row) + (it->second.secret
                                        ? ": secret (isSecretKey) but the type does not say so"
                                        : ": not secret (isSecretKey) but the type says secret"));
    }
  }
  EXPECT_TRUE(wrong.empty()) << "type column:" << join(wrong);
}

TEST(ConfigurationReference, NormalizesDocumentedDefaults) {
  EXPECT_EQ(normalizeDefault("104 857 600 (100 MiB)"), "104857600");
  EXPECT_EQ(normalizeDefault("300\u2009000"), "300000");
  EXPECT_EQ(normalizeDefault("`https://a` (the `x` of `y`)"), "https://a");
  EXPECT_EQ(normalizeDefault("empty"), "");
  EXPECT_EQ(normalizeDefault("`pointtron.`"), "pointtron.");
  EXPECT_EQ(normalizeDefault("1 MiB"), "1 MiB");
  EXPECT_EQ(resolvePlaceholders("pointtron-<stage>", {}), "pointtron-fetcher");
  EXPECT_EQ(resolvePlaceholders("<a.b>/c", {{"a.b", CodeKey{"var/x", false}}}), "var/x/c");
}

// readKeys() reports each getter's default, set or not, and nothing for require* getters.
TEST(ConfigSourceReadKeys, ReportsEveryGetterWithItsDefault) {
  auto source = ConfigSource::fromYamlText("a:\n  set: 7\n  req: x\n", "test.yaml", {});
  ASSERT_TRUE(source.has_value());
  (void)source->getInt("a.set", 3);
  (void)source->getBool("a.flag", true);
  (void)source->getDouble("a.ratio", 0.25);
  (void)source->getStringList("a.list", {"x", "y"});
  (void)source->getChoice("a.mode", "fast", {"fast", "slow"});
  (void)source->requireString("a.req");
  (void)source->getString("a.token", "t0");
  std::map<std::string, ConfigSource::ReadKey> by_key;
  for (const auto& read : source->readKeys()) by_key[read.key] = read;
  ASSERT_EQ(by_key.size(), 7u);
  EXPECT_EQ(by_key["a.set"].default_value, "3");
  EXPECT_TRUE(by_key["a.set"].is_set);
  EXPECT_EQ(by_key["a.flag"].default_value, "true");
  EXPECT_FALSE(by_key["a.flag"].is_set);
  EXPECT_EQ(by_key["a.ratio"].default_value, "0.25");
  EXPECT_EQ(by_key["a.list"].default_value, "x,y");
  EXPECT_EQ(by_key["a.mode"].default_value, "fast");
  EXPECT_FALSE(by_key["a.req"].has_default);
  EXPECT_TRUE(by_key["a.token"].is_secret);
  EXPECT_EQ(by_key["a.token"].default_value, "t0");
}

}  // namespace
