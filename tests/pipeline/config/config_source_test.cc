#include "pipeline/config/config_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <cstdlib>
#include <fstream>

namespace pipeline::config {
namespace {

using Env = ConfigSource::Environment;

// Writes YAML files into a directory private to the test, removed afterwards.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           (std::string("config_source_test_") + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string writeFile(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

ConfigSource mustLoad(std::string_view yaml, const Env& env = {}) {
  auto source = ConfigSource::fromYamlText(yaml, "test.yaml", env);
  EXPECT_TRUE(source.has_value()) << (source ? "" : source.error().message);
  return source ? *source : ConfigSource();
}

// A file's nested maps become dotted keys, at any depth, and scalars are read back as written.
TEST_F(ConfigFileTest, FlattensNestedMapsFromFile) {
  const auto path = writeFile("pointtron.yaml", R"(
kafka:
  bootstrap_servers: broker:9092
  consumer:
    group:
      name: decoders
fetcher.poll_interval_ms: 3000
)");
  auto source = ConfigSource::load(path, {});
  ASSERT_TRUE(source.has_value()) << source.error().message;
  EXPECT_EQ((std::vector<std::string>{"fetcher.poll_interval_ms", "kafka.bootstrap_servers",
                                      "kafka.consumer.group.name"}),
            source->keys());
  EXPECT_EQ("broker:9092", *source->getString("kafka.bootstrap_servers", ""));
  EXPECT_EQ("decoders", *source->getString("kafka.consumer.group.name", ""));
  EXPECT_EQ(3000, *source->getInt("fetcher.poll_interval_ms", 0));
  EXPECT_EQ(path, source->originOf("kafka.bootstrap_servers"));
}

// An empty path means "no file": only the environment and defaults apply.
TEST(ConfigSourceTest, EmptyPathReadsNoFile) {
  auto source = ConfigSource::load("", {{"POINTTRON_A__B", "x"}, {"HOME", "/root"}});
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ(std::vector<std::string>{"a.b"}, source->keys());
  EXPECT_EQ("fallback", *source->getString("a.c", "fallback"));
}

// A file named explicitly but missing is an error that names the path.
TEST_F(ConfigFileTest, MissingFileIsAnErrorNamingThePath) {
  const auto path = (dir_ / "absent.yaml").string();
  auto source = ConfigSource::load(path, {});
  ASSERT_FALSE(source.has_value());
  EXPECT_EQ(ErrorType::InvalidConfig, source.error().type);
  EXPECT_EQ("cannot read configuration file \"" + path + "\": No such file or directory",
            source.error().message);
}

// A YAML syntax error names the file and the line where the parser stopped.
TEST_F(ConfigFileTest, YamlSyntaxErrorNamesFileAndLine) {
  const auto path = writeFile("broken.yaml", "kafka:\n  bootstrap_servers: a\n  topics: [a, b\n");
  auto source = ConfigSource::load(path, {});
  ASSERT_FALSE(source.has_value());
  EXPECT_EQ(ErrorType::InvalidConfig, source.error().type);
  const std::string& message = source.error().message;
  EXPECT_NE(std::string::npos, message.find("configuration file " + path + ": YAML syntax error"))
      << message;
  EXPECT_NE(std::string::npos, message.find("at line 4")) << message;
  EXPECT_EQ(std::string::npos, message.find('\n')) << message;
}

// A list of maps is not a configuration value; the error names the key and its line.
TEST(ConfigSourceTest, ListOfMapsIsRejected) {
  auto source = ConfigSource::fromYamlText("fetcher:\n  nodes:\n    - url: a\n", "f.yaml", {});
  ASSERT_FALSE(source.has_value());
  EXPECT_EQ("configuration file f.yaml: fetcher.nodes: a list may contain only scalar values "
            "(line 3)",
            source.error().message);
}

// The same key spelt twice (once nested, once dotted) is rejected rather than silently merged.
TEST(ConfigSourceTest, DuplicateFlattenedKeyIsRejected) {
  auto source = ConfigSource::fromYamlText("a:\n  b: 1\na.b: 2\n", "f.yaml", {});
  ASSERT_FALSE(source.has_value());
  EXPECT_NE(std::string::npos, source.error().message.find("a.b: the key is given more than once"))
      << source.error().message;
}

// Lists come from YAML sequences or comma-separated strings (env or file), trimmed.
TEST(ConfigSourceTest, ReadsListsFromFileAndEnvironment) {
  auto source = mustLoad(R"(
fetcher:
  node_urls: [http://a, http://b]
  backup_urls: "http://c , http://d"
  empty_urls: []
)",
                         {{"POINTTRON_DECODER__TOPICS", " t1,t2 ,,t3"}});
  EXPECT_EQ((std::vector<std::string>{"http://a", "http://b"}),
            *source.getStringList("fetcher.node_urls", {}));
  EXPECT_EQ((std::vector<std::string>{"http://c", "http://d"}),
            *source.getStringList("fetcher.backup_urls", {}));
  EXPECT_EQ((std::vector<std::string>{"t1", "t2", "t3"}),
            *source.getStringList("decoder.topics", {}));
  EXPECT_EQ(std::vector<std::string>{"x"}, *source.getStringList("fetcher.other_urls", {"x"}));
  EXPECT_TRUE(source.getStringList("fetcher.empty_urls", {"x"})->empty());

  auto required = source.requireStringList("fetcher.empty_urls");
  ASSERT_FALSE(required.has_value());
  EXPECT_EQ("fetcher.empty_urls: must not be an empty list (got a list from test.yaml)",
            required.error().message);
}

// A list where a single value is expected is an error, not the first item.
TEST(ConfigSourceTest, ListWhereScalarExpectedIsAnError) {
  auto source = mustLoad("fetcher:\n  node_urls: [a, b]\n");
  auto value = source.getString("fetcher.node_urls", "");
  ASSERT_FALSE(value.has_value());
  EXPECT_EQ("fetcher.node_urls: must be a single value, not a list (got a list from test.yaml)",
            value.error().message);
}

// The environment overrides the file, key by key, including a whole list.
TEST(ConfigSourceTest, EnvironmentOverridesFile) {
  auto source = mustLoad(R"(
kafka:
  bootstrap_servers: from-file:9092
  client_id: file-client
fetcher:
  node_urls: [a, b, c]
)",
                         {{"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", "from-env:9092"},
                          {"POINTTRON_FETCHER__NODE_URLS", "z"}});
  EXPECT_EQ("from-env:9092", *source.getString("kafka.bootstrap_servers", ""));
  EXPECT_EQ("POINTTRON_KAFKA__BOOTSTRAP_SERVERS", source.originOf("kafka.bootstrap_servers"));
  EXPECT_EQ("file-client", *source.getString("kafka.client_id", ""));
  EXPECT_EQ(std::vector<std::string>{"z"}, *source.getStringList("fetcher.node_urls", {}));
}

// Key ⇄ environment name mapping, including the passthrough subtree where '_' stands for '.'.
TEST(ConfigSourceTest, MapsKeysToEnvironmentNames) {
  EXPECT_EQ("POINTTRON_KAFKA__BOOTSTRAP_SERVERS", envNameForKey("kafka.bootstrap_servers"));
  EXPECT_EQ("kafka.bootstrap_servers", keyForEnvName("POINTTRON_KAFKA__BOOTSTRAP_SERVERS"));
  EXPECT_EQ("POINTTRON_KAFKA__RDKAFKA__SOCKET_TIMEOUT_MS",
            envNameForKey("kafka.rdkafka.socket.timeout.ms"));
  EXPECT_EQ("kafka.rdkafka.socket.timeout.ms",
            keyForEnvName("POINTTRON_KAFKA__RDKAFKA__SOCKET_TIMEOUT_MS"));
  EXPECT_EQ("kafka.rdkafka.socket.timeout.ms",
            keyForEnvName(envNameForKey("kafka.rdkafka.socket.timeout.ms")));
  EXPECT_EQ("", keyForEnvName("KAFKA__BOOTSTRAP_SERVERS"));
}

// Passthrough keys from file and env arrive under their librdkafka names; env wins.
TEST(ConfigSourceTest, CollectsRdkafkaPassthroughKeys) {
  auto source = mustLoad(R"(
kafka:
  bootstrap_servers: b:9092
  rdkafka:
    socket.timeout.ms: 1000
    compression.codec: lz4
    debug: [broker, topic]
)",
                         {{"POINTTRON_KAFKA__RDKAFKA__SOCKET_TIMEOUT_MS", "30000"},
                          {"POINTTRON_KAFKA__RDKAFKA__STATISTICS_INTERVAL_MS", "5000"}});
  EXPECT_EQ((std::map<std::string, std::string>{{"compression.codec", "lz4"},
                                                {"debug", "broker,topic"},
                                                {"socket.timeout.ms", "30000"},
                                                {"statistics.interval.ms", "5000"}}),
            source.prefixed("kafka.rdkafka."));
  // prefixed() accepts the whole section; only the unread non-passthrough key is unknown.
  Status status = source.checkUnknown();
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ("unknown configuration key \"kafka.bootstrap_servers\" (from test.yaml)",
            status.error().message);
}

// Every environment variable can be built from envp; only POINTTRON_<SECTION>__<KEY> ones become
// keys (POINTTRON_CONFIG and scripts' POINTTRON_ settings have no section and are not keys).
TEST(ConfigSourceTest, ReadsEnvironmentFromEnvp) {
  const char* envp[] = {"PATH=/bin", "POINTTRON_LOG__LEVEL=debug", "POINTTRON_X__Y=a=b",
                        "POINTTRON_CONFIG=/etc/p.yaml", nullptr};
  const Env env = ConfigSource::environmentFrom(envp);
  EXPECT_EQ(4u, env.size());
  auto source = ConfigSource::load("", env);
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ((std::vector<std::string>{"log.level", "x.y"}), source->keys());
  EXPECT_EQ("a=b", *source->getString("x.y", ""));
  EXPECT_FALSE(source->checkUnknown().isOk());  // x.y was read, log.level was not
}

// loadFromProcess() reads the real process environment.
TEST(ConfigSourceTest, LoadsFromProcessEnvironment) {
  ASSERT_EQ(0, ::setenv("POINTTRON_CONFIG_TEST__PROBE_MS", "42", 1));
  auto source = ConfigSource::loadFromProcess("");
  ::unsetenv("POINTTRON_CONFIG_TEST__PROBE_MS");
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ(42, *source->getInt("config_test.probe_ms", 0));
  EXPECT_EQ("POINTTRON_CONFIG_TEST__PROBE_MS", source->originOf("config_test.probe_ms"));
}

// Strings: the default applies when unset; required fails when unset or empty.
TEST(ConfigSourceTest, StringGetters) {
  auto source = mustLoad("webhook:\n  url: http://x\n  name: ''\n  unset: ~\n");
  EXPECT_EQ("http://x", *source.requireString("webhook.url"));
  EXPECT_EQ("d", *source.getString("webhook.other", "d"));
  EXPECT_EQ("d", *source.getString("webhook.unset", "d"));
  EXPECT_EQ("", *source.getString("webhook.name", "d"));

  auto missing = source.requireString("webhook.header_name");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(ErrorType::InvalidConfig, missing.error().type);
  EXPECT_EQ("webhook.header_name: required but not set (set it in the configuration file "
            "or in POINTTRON_WEBHOOK__HEADER_NAME)",
            missing.error().message);

  auto empty = source.requireString("webhook.name");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ("webhook.name: must not be empty (got \"\" from test.yaml)", empty.error().message);

  EXPECT_FALSE(source.requireString("webhook.unset").has_value());
}

// Booleans accept true/false, yes/no and 1/0 in any case, and reject anything else.
TEST(ConfigSourceTest, BoolGetters) {
  auto source = mustLoad("a:\n  t1: TRUE\n  t2: Yes\n  t3: 1\n  f1: false\n  f2: NO\n  f3: 0\n"
                         "  bad: maybe\n");
  for (const char* key : {"a.t1", "a.t2", "a.t3"}) EXPECT_TRUE(*source.getBool(key, false)) << key;
  for (const char* key : {"a.f1", "a.f2", "a.f3"}) EXPECT_FALSE(*source.getBool(key, true)) << key;
  EXPECT_TRUE(*source.getBool("a.unset", true));

  auto bad = source.getBool("a.bad", false);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ("a.bad: must be a boolean: true/false, yes/no or 1/0 (got \"maybe\" from test.yaml)",
            bad.error().message);
  EXPECT_FALSE(source.requireBool("a.unset").has_value());
}

// Signed integers: range is inclusive, and the error names key, range, value and env variable.
TEST(ConfigSourceTest, IntGetterRangeError) {
  auto source = ConfigSource::load("", {{"POINTTRON_KAFKA__POLL_TIMEOUT_MS", "abc"},
                                        {"POINTTRON_KAFKA__MIN_MS", "1"},
                                        {"POINTTRON_KAFKA__MAX_MS", "60000"},
                                        {"POINTTRON_KAFKA__NEGATIVE", "-5"},
                                        {"POINTTRON_KAFKA__TOO_BIG", "60001"}});
  ASSERT_TRUE(source.has_value());
  auto bad = source->getInt("kafka.poll_timeout_ms", 100, 1, 60000);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(ErrorType::InvalidConfig, bad.error().type);
  EXPECT_EQ("kafka.poll_timeout_ms: must be an integer in [1, 60000] (got \"abc\" from "
            "POINTTRON_KAFKA__POLL_TIMEOUT_MS)",
            bad.error().message);
  EXPECT_EQ(1, *source->getInt("kafka.min_ms", 5, 1, 60000));
  EXPECT_EQ(60000, *source->requireInt("kafka.max_ms", 1, 60000));
  EXPECT_EQ(-5, *source->getInt("kafka.negative", 0));
  EXPECT_EQ(7, *source->getInt("kafka.unset_ms", 7, 1, 10));
  EXPECT_EQ("kafka.too_big: must be an integer in [1, 60000] (got \"60001\" from "
            "POINTTRON_KAFKA__TOO_BIG)",
            source->getInt("kafka.too_big", 1, 1, 60000).error().message);
  EXPECT_EQ("kafka.unset_ms: required but not set (set it in the configuration file or in "
            "POINTTRON_KAFKA__UNSET_MS)",
            source->requireInt("kafka.unset_ms", 1, 10).error().message);
}

// A value from the file names the file as its origin in the error.
TEST(ConfigSourceTest, IntGetterErrorNamesFile) {
  auto source = ConfigSource::fromYamlText("kafka:\n  poll_timeout_ms: 0\n",
                                           "/etc/pointtron.yaml", {});
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ("kafka.poll_timeout_ms: must be an integer in [1, 60000] (got \"0\" from "
            "/etc/pointtron.yaml)",
            source->getInt("kafka.poll_timeout_ms", 100, 1, 60000).error().message);
}

// Unsigned integers reject negatives and values beyond the range; the full 64-bit range works.
TEST(ConfigSourceTest, UintGetters) {
  auto source = mustLoad("b:\n  size_bytes: 18446744073709551615\n  neg: -1\n  big: 11\n");
  EXPECT_EQ(18446744073709551615u, *source.getUint("b.size_bytes", 0));
  EXPECT_EQ("b.neg: must be a non-negative integer (got \"-1\" from test.yaml)",
            source.getUint("b.neg", 0).error().message);
  EXPECT_EQ("b.big: must be an integer in [1, 10] (got \"11\" from test.yaml)",
            source.requireUint("b.big", 1, 10).error().message);
  EXPECT_EQ(3u, *source.getUint("b.unset", 3, 1, 10));
}

// Doubles parse decimal and exponent forms, check the range, and reject NaN and garbage.
TEST(ConfigSourceTest, DoubleGetters) {
  auto source = mustLoad("r:\n  ratio: 0.25\n  exp: 1e-3\n  high: 1.5\n  nan: nan\n  text: x\n");
  EXPECT_DOUBLE_EQ(0.25, *source.getDouble("r.ratio", 0, 0, 1));
  EXPECT_DOUBLE_EQ(0.001, *source.requireDouble("r.exp", 0, 1));
  EXPECT_DOUBLE_EQ(0.5, *source.getDouble("r.unset", 0.5, 0, 1));
  EXPECT_EQ("r.high: must be a number in [0, 1] (got \"1.5\" from test.yaml)",
            source.getDouble("r.high", 0, 0, 1).error().message);
  EXPECT_EQ("r.nan: must be a number (got \"nan\" from test.yaml)",
            source.getDouble("r.nan", 0).error().message);
  EXPECT_FALSE(source.getDouble("r.text", 0).has_value());
}

// A choice is matched case-insensitively and returned as spelled in the list.
TEST(ConfigSourceTest, ChoiceGetter) {
  auto source = ConfigSource::load("", {{"POINTTRON_LOG__LEVEL", "DEBUG"},
                                        {"POINTTRON_KAFKA__COMPRESSION", "brotli"}});
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ("debug", *source->getChoice("log.level", "info", {"debug", "info"}));
  EXPECT_EQ("kafka.compression: must be one of none, lz4, zstd (got \"brotli\" from "
            "POINTTRON_KAFKA__COMPRESSION)",
            source->getChoice("kafka.compression", "none", {"none", "lz4", "zstd"})
                .error()
                .message);
}

// The value of a secret key never appears in an error message.
TEST(ConfigSourceTest, ErrorMessagesRedactSecretValues) {
  auto source = mustLoad("webhook:\n  token: [s3cr3t]\n  api_key: s3cr3t\n");
  auto bad = source.getInt("webhook.api_key", 0);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ("webhook.api_key: must be an integer (got <redacted> from test.yaml)",
            bad.error().message);
}

// An unread key from the file is reported, with the closest read key as a suggestion.
TEST(ConfigSourceTest, UnknownFileKeyWithSuggestion) {
  auto source = ConfigSource::fromYamlText("kafka:\n  bootstrap_servrs: b:9092\n",
                                           "/etc/pointtron.yaml", {});
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ("", *source->getString("kafka.bootstrap_servers", ""));
  Status status = source->checkUnknown();
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(ErrorType::InvalidConfig, status.error().type);
  EXPECT_EQ("unknown configuration key \"kafka.bootstrap_servrs\" (from /etc/pointtron.yaml), "
            "did you mean \"kafka.bootstrap_servers\"?",
            status.error().message);
}

// A misspelt POINTTRON_ variable is a key too; a transposition counts as one edit.
TEST(ConfigSourceTest, UnknownEnvironmentKeyWithSuggestion) {
  auto source = ConfigSource::load("", {{"POINTTRON_KAFKA__BOOTSTRAP_SEVRERS", "b:9092"},
                                        {"POINTTRON_TOTALLY__DIFFERENT", "1"}});
  ASSERT_TRUE(source.has_value());
  (void)source->getString("kafka.bootstrap_servers", "");
  Status status = source->checkUnknown();
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ("unknown configuration key \"kafka.bootstrap_sevrers\" (from "
            "POINTTRON_KAFKA__BOOTSTRAP_SEVRERS), did you mean \"kafka.bootstrap_servers\"?; "
            "unknown configuration key \"totally.different\" (from POINTTRON_TOTALLY__DIFFERENT)",
            status.error().message);
}

// The suggestion is the closest read key within 2 edits: never one 3 edits away, and among
// candidates the nearer wins whichever is compared first.
TEST(ConfigSourceTest, SuggestsOnlyTheClosestKeyWithinTwoEdits) {
  auto source = mustLoad("abcdef: 1\nsection:\n  timeout_ms: 1\n");
  for (const char* key : {"abcxyz", "abxdef", "section.timeout_msxx", "section.timeout_s"}) {
    (void)source.getInt(key, 0);
  }
  Status status = source.checkUnknown();
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ("unknown configuration key \"abcdef\" (from test.yaml), did you mean \"abxdef\"?; "
            "unknown configuration key \"section.timeout_ms\" (from test.yaml), did you mean "
            "\"section.timeout_s\"?",
            status.error().message);

  auto far = mustLoad("kafka_brokers_list: 1\n");
  (void)far.getInt("kafxa_brikers_lits", 0);  // two substitutions and a transposition
  EXPECT_EQ("unknown configuration key \"kafka_brokers_list\" (from test.yaml)",
            far.checkUnknown().error().message);
}

// Once every set key is read (or under a consumed prefix), checkUnknown() passes.
TEST(ConfigSourceTest, CheckUnknownPassesWhenAllKeysRead) {
  auto source = mustLoad("a:\n  b: 1\n  c: ~\nraw:\n  x.y: 2\n");
  (void)source.getInt("a.b", 0);
  (void)source.getInt("a.c", 0);
  EXPECT_FALSE(source.checkUnknown().isOk());
  source.consumePrefix("raw.");
  EXPECT_TRUE(source.checkUnknown().isOk()) << source.checkUnknown().toString();
}

// Secret detection looks at the key's own name (or the librdkafka name) and spares file paths.
TEST(ConfigSourceTest, DetectsSecretKeys) {
  for (const char* key : {"webhook.token", "webhook.bearer_token", "kafka.rdkafka.sasl.password",
                          "kafka.rdkafka.ssl.key.password", "kafka.rdkafka.ssl.key.pem",
                          "kafka.rdkafka.sasl.oauthbearer.client.secret", "alerter.api_key",
                          "db.PASSPHRASE", "webhook.authorization_header", "password"}) {
    EXPECT_TRUE(isSecretKey(key)) << key;
  }
  for (const char* key : {"kafka.bootstrap_servers", "tls.key_file", "webhook.token_file",
                          "kafka.rdkafka.ssl.keystore.location", "kafka.rdkafka.sasl.username",
                          "secrets.url", "kafka.message_key_field", ""}) {
    EXPECT_FALSE(isSecretKey(key)) << key;
  }
}

// describe() shows effective values (typed, defaults included) and redacts secrets.
TEST(ConfigSourceTest, DescribeRedactsSecrets) {
  auto source = mustLoad(R"(
kafka:
  bootstrap_servers: b:9092
  rdkafka:
    sasl.password: hunter2
webhook:
  token: hunter2
  urls: [a, b]
)",
                         {{"POINTTRON_KAFKA__POLL_TIMEOUT_MS", "250"}});
  (void)source.getInt("kafka.poll_timeout_ms", 100, 1, 60000);
  (void)source.getBool("kafka.enable_idempotence", true);
  (void)source.getDouble("alerter.ratio", 0.5);
  const std::string described = source.describe();
  EXPECT_EQ(R"({"alerter.ratio":0.5,"kafka.bootstrap_servers":"b:9092",)"
            R"("kafka.enable_idempotence":true,"kafka.poll_timeout_ms":250,)"
            R"("kafka.rdkafka.sasl.password":"<redacted>","webhook.token":"<redacted>",)"
            R"("webhook.urls":["a","b"]})",
            described);
  EXPECT_EQ(std::string::npos, described.find("hunter2"));
}

}  // namespace
}  // namespace pipeline::config
