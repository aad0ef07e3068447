#include "stages/alerter/notify/notify_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace stages::alerter::notify {
namespace {

using std::chrono::milliseconds;

constexpr const char* kConfig = R"(
global:
  external_url: https://alerts.example/
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: pager
      matchers: ['stage=~"fetch.*"', 'severity="critical"']
      group_by: [stage, alertname]
      group_wait: 10s
      continue: true
      routes:
        - matchers: ['instance!="host-9"']
          repeat_interval: 1h
    - receiver: all
      group_by: ['...']
      group_interval: 1m
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:9/hook
  - name: pager
    webhook_configs:
      - url: https://hooks.example/services/T0/B0/SECRETPATH
        format: slack
        send_resolved: false
        headers: {X-Team: core}
        timeout: 2s
        max_alerts: 5
        hmac_secret: s3cr3t-hmac
        http_config:
          authorization: {credentials: tok-123}
  - name: all
    email_configs:
      - to: 'ops@example.com, On Call <oncall@example.com>'
        from: 'point-tron <alerts@example.com>'
        smarthost: 127.0.0.1:2525
        require_tls: false
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [stage]
)";

pipeline::Result<NotifyConfig> parse(const std::string& yaml) {
  return parseNotifyConfig(yaml, "notify.yml");
}

// The full example parses; children inherit from their parents; matchers are sorted and the route
// keys are Alertmanager's.
TEST(NotifyConfigTest, ParsesAndInherits) {
  auto config = parse(kConfig);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ("https://alerts.example", config->external_url);
  const Route& root = config->route;
  EXPECT_EQ("default", root.receiver);
  EXPECT_EQ("{}", root.key);
  EXPECT_EQ(milliseconds(30'000), root.group_wait);
  EXPECT_EQ(milliseconds(300'000), root.group_interval);
  EXPECT_EQ(milliseconds(4 * 3'600'000), root.repeat_interval);
  ASSERT_EQ(2u, root.routes.size());

  const Route& pager = root.routes[0];
  EXPECT_EQ("pager", pager.receiver);
  EXPECT_EQ((std::vector<std::string>{"alertname", "stage"}), pager.group_by);
  EXPECT_EQ(milliseconds(10'000), pager.group_wait);
  EXPECT_TRUE(pager.continue_matching);
  EXPECT_EQ(R"({}/{severity="critical",stage=~"fetch.*"})", pager.key);
  EXPECT_EQ("route.routes[0]", pager.id);
  ASSERT_EQ(1u, pager.routes.size());
  const Route& nested = pager.routes[0];
  EXPECT_EQ("pager", nested.receiver);
  EXPECT_EQ(pager.group_by, nested.group_by);
  EXPECT_EQ(milliseconds(10'000), nested.group_wait);
  EXPECT_EQ(milliseconds(3'600'000), nested.repeat_interval);
  EXPECT_EQ(R"({}/{severity="critical",stage=~"fetch.*"}/{instance!="host-9"})", nested.key);

  const Route& all = root.routes[1];
  EXPECT_TRUE(all.group_by_all);
  EXPECT_EQ(milliseconds(60'000), all.group_interval);

  const Receiver* hook = config->receiver("pager");
  ASSERT_NE(nullptr, hook);
  ASSERT_EQ(1u, hook->webhook_configs.size());
  const WebhookConfig& w = hook->webhook_configs[0];
  EXPECT_EQ(WebhookFormat::Slack, w.format);
  EXPECT_FALSE(w.send_resolved);
  EXPECT_EQ(milliseconds(2000), w.timeout);
  EXPECT_EQ(5u, w.max_alerts);
  EXPECT_EQ("s3cr3t-hmac", w.hmac_secret);
  ASSERT_EQ(2u, w.headers.size());
  EXPECT_EQ((std::pair<std::string, std::string>{"X-Team", "core"}), w.headers[0]);
  EXPECT_EQ((std::pair<std::string, std::string>{"Authorization", "Bearer tok-123"}), w.headers[1]);
  EXPECT_FALSE(hook->sendsResolved());

  const Receiver* mail = config->receiver("all");
  ASSERT_NE(nullptr, mail);
  ASSERT_EQ(1u, mail->email_configs.size());
  const EmailConfig& e = mail->email_configs[0];
  EXPECT_EQ((std::vector<std::string>{"ops@example.com", "oncall@example.com"}), e.recipients);
  EXPECT_EQ("alerts@example.com", e.from_address);
  EXPECT_EQ("127.0.0.1", e.smarthost_host);
  EXPECT_EQ(2525, e.smarthost_port);
  EXPECT_FALSE(e.require_tls);
  EXPECT_FALSE(e.send_resolved);  // Alertmanager's default for e-mail

  ASSERT_EQ(1u, config->inhibit_rules.size());
  EXPECT_EQ((std::vector<std::string>{"stage"}), config->inhibit_rules[0].equal);
}

// Route matching is depth-first with `continue`, falling back to the parent when no child matches.
TEST(NotifyConfigTest, RouteMatching) {
  auto config = parse(kConfig);
  ASSERT_TRUE(config) << config.error().message;
  const auto match = [&](const LabelSet& labels) {
    std::vector<const Route*> routes;
    config->route.match(labels, routes);
    std::vector<std::string> ids;
    for (const Route* r : routes) ids.push_back(r->id);
    return ids;
  };
  // Critical fetcher alert: the nested route (continue on its parent) and then "all".
  EXPECT_EQ((std::vector<std::string>{"route.routes[0].routes[0]", "route.routes[1]"}),
            match({{"severity", "critical"}, {"stage", "fetcher"}, {"instance", "host-1"}}));
  // host-9 fails the nested matcher: the pager route itself matches, then "all".
  EXPECT_EQ((std::vector<std::string>{"route.routes[0]", "route.routes[1]"}),
            match({{"severity", "critical"}, {"stage", "fetcher"}, {"instance", "host-9"}}));
  // Regex matchers are anchored: "prefetcher" does not match fetch.*.
  EXPECT_EQ((std::vector<std::string>{"route.routes[1]"}),
            match({{"severity", "critical"}, {"stage", "prefetcher"}}));
}

// Matchers parse in Alertmanager's classic syntax and print back as Alertmanager prints them.
TEST(NotifyConfigTest, MatcherSyntax) {
  for (const auto& [text, printed] : std::vector<std::pair<std::string, std::string>>{
           {R"(a="b")", R"(a="b")"},
           {R"( a = b )", R"(a="b")"},
           {R"(a!="x \"y\"")", R"(a!="x \"y\"")"},
           {R"(job=~"api|web")", R"(job=~"api|web")"},
           {R"(instance!~"host-\d+")", R"(instance!~"host-\\d+")"},
           {R"(a="")", R"(a="")"}}) {
    auto m = parseMatcher(text);
    ASSERT_TRUE(m) << text << ": " << m.error().message;
    EXPECT_EQ(printed, m->toString()) << text;
  }
  auto re = parseMatcher(R"(instance!~"host-\d+")");
  ASSERT_TRUE(re);
  EXPECT_FALSE(re->matches({{"instance", "host-12"}}));
  EXPECT_TRUE(re->matches({{"instance", "db-1"}}));
  EXPECT_TRUE(parseMatcher(R"(absent="")")->matches({}));
  EXPECT_FALSE(parseMatcher("a"));
  EXPECT_FALSE(parseMatcher("=b"));
  EXPECT_FALSE(parseMatcher(R"(a=~"(")"));
  EXPECT_FALSE(parseMatcher(R"(a=~"x{1001}")"));  // above the repetition limit
  EXPECT_FALSE(parseMatcher(R"(a="b)"));
}

// Label sets print as prometheus/common does, with Go's %q quoting.
TEST(NotifyConfigTest, LabelSetString) {
  EXPECT_EQ("{}", labelSetString({}));
  EXPECT_EQ(R"({alertname="X", team="tron \"core\""})",
            labelSetString({{"team", "tron \"core\""}, {"alertname", "X"}}));
  EXPECT_EQ(R"({a="line\nbreak\ttab\\ \x01 é"})",
            labelSetString({{"a", "line\nbreak\ttab\\ \x01 é"}}));
  EXPECT_EQ(R"({}/{a="1"}:{b="2"})", groupKey(R"({}/{a="1"})", {{"b", "2"}}));
}

// Each invalid config gives one InvalidConfig line naming the place and the field.
TEST(NotifyConfigTest, ErrorsNameTheField) {
  const std::string receivers = "receivers: [{name: r, webhook_configs: [{url: 'http://h/x'}]}]\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"route: {receiver: r}\n", "receivers: at least one receiver is required"},
      {receivers, "route: is required"},
      {receivers + "route: {receiver: nope}\n",
       "route.receiver: receiver \"nope\" is not defined in receivers"},
      {receivers + "route: {receiver: r, routes: [{receiver: x}]}\n",
       "route.routes[0].receiver: receiver \"x\" is not defined"},
      {receivers + "route: {receiver: r, matchers: ['a=\"b\"']}\n",
       "route.matchers: the root route must match everything"},
      {receivers + "route: {receiver: r, group_wait: soon}\n",
       "route.group_wait: must be a duration"},
      {receivers + "route: {receiver: r, group_interval: 0s}\n",
       "route.group_interval: must be > 0"},
      {receivers + "route: {receiver: r, group_by: ['...', a]}\n", "route.group_by: '...'"},
      {receivers + "route: {receiver: r, routes: [{matchers: ['a']}]}\n",
       "route.routes[0].matchers[0]: matcher on a: expected one of =, !=, =~, !~"},
      {receivers + "route: {receiver: r, colour: red}\n", "route: unknown key \"colour\""},
      {"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'ftp://h'}]}]\n",
       "receiver \"r\": webhook_configs[0].url: must be an http:// or https:// URL"},
      {"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://h', "
       "timeout: 0s}]}]\n",
       "receiver \"r\": webhook_configs[0].timeout: must be > 0"},
      {"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://h', "
       "format: xml}]}]\n",
       "receiver \"r\": webhook_configs[0].format: must be alertmanager, slack or json"},
      {"route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://h', "
       "http_config: {tls_config: {}}}]}]\n",
       "webhook_configs[0].http_config: \"tls_config\" is not supported"},
      {"route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n",
       "receivers[1]: receiver \"r\" is defined twice"},
      {"route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: 'a@b', from: 'c@d'}]}]\n",
       "receiver \"r\": email_configs[0]: smarthost is required"},
      {"route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: 'nobody', from: 'c@d', "
       "smarthost: 'h:25'}]}]\n",
       "receiver \"r\": email_configs[0].to: \"nobody\" is not an e-mail address"},
      {"route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: 'a@b', from: 'c@d', "
       "smarthost: 'h'}]}]\n",
       "email_configs[0].smarthost: must be host:port"},
      {receivers + "route: {receiver: r}\ninhibit_rules: [{target_matchers: ['a=\"b\"']}]\n",
       "inhibit_rules[0]: source_matchers is required"},
      {"route: [\n", "notify.yml: invalid YAML at line"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto config = parse(yaml);
    ASSERT_FALSE(config) << yaml;
    EXPECT_EQ(pipeline::ErrorType::InvalidConfig, config.error().type);
    EXPECT_NE(std::string::npos, config.error().message.find(expected))
        << "got: " << config.error().message << "\nwanted: " << expected;
    EXPECT_EQ(0u, config.error().message.rfind("notify.yml: ", 0)) << config.error().message;
    EXPECT_EQ(std::string::npos, config.error().message.find('\n')) << config.error().message;
  }
}

// Secrets (inline values, file contents, URLs with tokens) never appear in error messages.
TEST(NotifyConfigTest, SecretsStayOutOfErrors) {
  const std::string yaml = R"(
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: 'https://hooks.example/T0/B0/TOKEN-abc'
        hmac_secret: hmac-SECRET-1
        hmac_secret_file: /nonexistent
)";
  auto config = parse(yaml);
  ASSERT_FALSE(config);
  EXPECT_NE(std::string::npos, config.error().message.find("give hmac_secret or hmac_secret_file"));
  for (const char* secret : {"hmac-SECRET-1", "TOKEN-abc"}) {
    EXPECT_EQ(std::string::npos, config.error().message.find(secret)) << config.error().message;
  }
  auto bad_header = parse(R"(
route: {receiver: r}
receivers:
  - name: r
    webhook_configs: [{url: 'http://h', headers: {Host: 'secret-host-value'}}]
)");
  ASSERT_FALSE(bad_header);
  EXPECT_EQ(std::string::npos, bad_header.error().message.find("secret-host-value"));
}

// Secret files are read relative to the config file and trimmed; an unreadable one is an error
// naming the path only.
TEST(NotifyConfigTest, SecretFiles) {
  const auto dir = std::filesystem::path(testing::TempDir()) /
                   ("notify_config_secrets." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "hmac") << "from-file-secret\n";
  std::ofstream(dir / "smtp") << "smtp-pass\n";
  const std::string yaml = R"(
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: 'http://h/x'
        hmac_secret_file: hmac
        http_config: {basic_auth: {username: u, password_file: smtp}}
    email_configs:
      - {to: a@b.c, from: d@e.f, smarthost: 'h:25', auth_username: u, auth_password_file: smtp}
)";
  const auto path = dir / "notify.yml";
  std::ofstream(path) << yaml;
  auto config = loadNotifyConfig(path.string());
  ASSERT_TRUE(config) << config.error().message;
  const Receiver& r = config->receivers[0];
  EXPECT_EQ("from-file-secret", r.webhook_configs[0].hmac_secret);
  EXPECT_EQ("Basic dTpzbXRwLXBhc3M=", r.webhook_configs[0].headers[0].second);  // u:smtp-pass
  EXPECT_EQ("smtp-pass", r.email_configs[0].auth_password);

  std::ofstream(path) << R"(
route: {receiver: r}
receivers: [{name: r, webhook_configs: [{url: 'http://h', hmac_secret_file: missing}]}]
)";
  auto missing = loadNotifyConfig(path.string());
  ASSERT_FALSE(missing);
  EXPECT_NE(std::string::npos, missing.error().message.find("hmac_secret_file: cannot read"))
      << missing.error().message;
  EXPECT_NE(std::string::npos, missing.error().message.find("missing"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stages::alerter::notify
