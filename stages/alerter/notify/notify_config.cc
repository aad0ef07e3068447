#include "stages/alerter/notify/notify_config.h"

#include "stages/alerter/rule_expr.h"
#include "stages/alerter/text.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <system_error>

namespace stages::alerter::notify {

namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

constexpr std::string_view kGroupByAll = "...";

// Spaces and tabs at both ends, and a trailing CR/LF too (a file read for a secret ends in one).
std::string_view trim(std::string_view text) {
  return trimLeft(trimRight(text, " \t\n\r"), " \t");
}

// RFC 9110 token characters, for header names.
bool isToken(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Splits an address list ("a@x, B <b@y>, \"C, D\" <c@z>") into addresses, or nullopt-like empty
// result with `error` set.
std::vector<std::string> parseAddresses(std::string_view list, std::string& error) {
  std::vector<std::string> out;
  std::vector<std::string_view> parts;
  bool quoted = false;
  int angle = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i == list.size() || (list[i] == ',' && !quoted && angle == 0)) {
      parts.push_back(list.substr(start, i - start));
      start = i + 1;
      continue;
    }
    if (list[i] == '"') quoted = !quoted;
    if (!quoted && list[i] == '<') ++angle;
    if (!quoted && list[i] == '>') --angle;
  }
  for (std::string_view part : parts) {
    part = trim(part);
    if (part.empty()) continue;
    const auto open = part.rfind('<');
    std::string_view address = part;
    if (open != std::string_view::npos) {
      const auto close = part.find('>', open);
      if (close == std::string_view::npos) {
        error = "an address has '<' without '>'";
        return {};
      }
      address = trim(part.substr(open + 1, close - open - 1));
    }
    const auto at = address.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
        address.find_first_of(" \t\r\n<>,") != std::string_view::npos) {
      error = fmt::format("\"{}\" is not an e-mail address", address);
      return {};
    }
    out.emplace_back(address);
  }
  if (out.empty()) error = "no address given";
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view origin) : origin_(origin) {
    std::error_code ec;
    const std::filesystem::path path(origin_);
    if (!origin_.empty() && std::filesystem::is_regular_file(path, ec)) {
      base_dir_ = path.parent_path();
    }
  }

  Result<NotifyConfig> parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      return fail("", fmt::format("invalid YAML at line {}, column {}: {}", e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
    }
    try {
      return parseRoot(root);
    } catch (const YAML::Exception& e) {
      return fail("", fmt::format("invalid YAML at line {}, column {}: {}", e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
    }
  }

 private:
  struct Globals {
    std::string smtp_from;
    std::string smtp_smarthost;
    std::string smtp_auth_username;
    std::string smtp_auth_password;
    bool smtp_require_tls = true;
  };

  Error fail(std::string_view where, std::string_view problem) const {
    if (where.empty())
      return Error{ErrorType::InvalidConfig, fmt::format("{}: {}", origin_, problem)};
    return Error{ErrorType::InvalidConfig, fmt::format("{}: {}: {}", origin_, where, problem)};
  }

  static std::string join(std::string_view a, std::string_view b) {
    if (a.empty()) return std::string(b);
    return fmt::format("{}.{}", a, b);
  }

  Status checkMap(const YAML::Node& node, const std::string& where,
                  std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) return fail(where, "must be a mapping");
    for (const auto& entry : node) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string names;
        for (std::string_view name : allowed)
          names += (names.empty() ? "" : ", ") + std::string(name);
        return fail(where, fmt::format("unknown key \"{}\" (known: {})", key, names));
      }
    }
    return Status::ok();
  }

  Result<std::string> scalar(const YAML::Node& node, const std::string& where) const {
    if (!node.IsScalar()) return fail(where, "must be a string");
    return node.Scalar();
  }

  Result<bool> boolean(const YAML::Node& node, const std::string& where) const {
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    return fail(where, "must be true or false");
  }

  Result<std::chrono::milliseconds> duration(const YAML::Node& node,
                                             const std::string& where) const {
    if (!node.IsScalar()) return fail(where, "must be a duration like 30s or 5m");
    const auto parsed = stages::alerter::parseDuration(node.Scalar());
    if (!parsed) return fail(where, fmt::format("must be a duration like 30s, 5m or 1h30m (got \"{}\")", node.Scalar()));
    return std::chrono::milliseconds(*parsed);
  }

  Result<std::size_t> count(const YAML::Node& node, const std::string& where) const {
    std::size_t value = 0;
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return value;
    }
    return fail(where, "must be a non-negative integer");
  }

  Result<std::vector<std::string>> strings(const YAML::Node& node, const std::string& where) const {
    if (!node.IsSequence()) return fail(where, "must be a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) return fail(fmt::format("{}[{}]", where, i), "must be a string");
      out.push_back(node[i].Scalar());
    }
    return out;
  }

  Result<Matchers> matchers(const YAML::Node& node, const std::string& where) const {
    auto texts = strings(node, where);
    if (!texts) return texts.error();
    Matchers out;
    for (std::size_t i = 0; i < texts->size(); ++i) {
      auto matcher = parseMatcher((*texts)[i]);
      if (!matcher) return fail(fmt::format("{}[{}]", where, i), matcher.error().message);
      out.push_back(std::move(*matcher));
    }
    return out;
  }

  // Reads a secret given inline (`inline_key`) or as a file (`file_key`); at most one of both.
  // Neither the value nor the file's content appears in errors.
  Result<std::string> secret(const YAML::Node& parent, const std::string& where,
                             std::string_view inline_key, std::string_view file_key,
                             bool required) const {
    const YAML::Node inline_node = parent[std::string(inline_key)];
    const YAML::Node file_node = parent[std::string(file_key)];
    if (inline_node && file_node) {
      return fail(where, fmt::format("give {} or {}, not both", inline_key, file_key));
    }
    if (inline_node) {
      if (!inline_node.IsScalar() || inline_node.Scalar().empty()) {
        return fail(join(where, inline_key), "must be a non-empty string");
      }
      return inline_node.Scalar();
    }
    if (file_node) {
      auto path_text = scalar(file_node, join(where, file_key));
      if (!path_text) return path_text.error();
      std::filesystem::path path(*path_text);
      if (path.is_relative() && !base_dir_.empty()) path = base_dir_ / path;
      std::ifstream in(path, std::ios::binary);
      if (!in) return fail(join(where, file_key), fmt::format("cannot read {}", path.string()));
      std::ostringstream content;
      content << in.rdbuf();
      std::string value(trim(content.str()));
      if (value.empty())
        return fail(join(where, file_key), fmt::format("{} is empty", path.string()));
      return value;
    }
    if (required) return fail(where, fmt::format("{} or {} is required", inline_key, file_key));
    return std::string();
  }

  Result<NotifyConfig> parseRoot(const YAML::Node& root) {
    if (!root || root.IsNull()) return fail("", "the notification config is empty");
    if (auto s = checkMap(root, "", {"global", "route", "receivers", "inhibit_rules"}); !s) {
      return s.error();
    }
    NotifyConfig config;
    if (const YAML::Node global = root["global"]) {
      if (auto s = parseGlobal(global, config); !s) return s.error();
    }
    if (!root["receivers"] || !root["receivers"].IsSequence() || root["receivers"].size() == 0) {
      return fail("receivers", "at least one receiver is required");
    }
    std::set<std::string> names;
    const YAML::Node receivers = root["receivers"];
    for (std::size_t i = 0; i < receivers.size(); ++i) {
      Receiver receiver;
      if (auto s = parseReceiver(receivers[i], i, receiver); !s) return s.error();
      if (!names.insert(receiver.name).second) {
        return fail(fmt::format("receivers[{}]", i),
                    fmt::format("receiver \"{}\" is defined twice", receiver.name));
      }
      config.receivers.push_back(std::move(receiver));
    }
    if (!root["route"]) return fail("route", "is required");
    if (auto s = parseRoute(root["route"], nullptr, "route", config.route); !s) return s.error();
    if (auto s = checkReceivers(config.route, names); !s) return s.error();
    if (const YAML::Node rules = root["inhibit_rules"]) {
      if (!rules.IsSequence()) return fail("inhibit_rules", "must be a list");
      for (std::size_t i = 0; i < rules.size(); ++i) {
        InhibitRule rule;
        if (auto s = parseInhibitRule(rules[i], fmt::format("inhibit_rules[{}]", i), rule); !s) {
          return s.error();
        }
        config.inhibit_rules.push_back(std::move(rule));
      }
    }
    return config;
  }

  Status parseGlobal(const YAML::Node& node, NotifyConfig& config) {
    if (auto s = checkMap(node, "global",
                          {"external_url", "smtp_from", "smtp_smarthost", "smtp_auth_username",
                           "smtp_auth_password", "smtp_auth_password_file", "smtp_require_tls"});
        !s) {
      return s;
    }
    const auto text = [&](std::string_view key, std::string& out) -> Status {
      if (const YAML::Node value = node[std::string(key)]) {
        auto parsed = scalar(value, join("global", key));
        if (!parsed) return parsed.error();
        out = std::move(*parsed);
      }
      return Status::ok();
    };
    if (auto s = text("external_url", config.external_url); !s) return s;
    if (!config.external_url.empty() && !config.external_url.starts_with("http://") &&
        !config.external_url.starts_with("https://")) {
      return fail("global.external_url", "must be an http:// or https:// URL");
    }
    while (config.external_url.ends_with('/')) config.external_url.pop_back();
    if (auto s = text("smtp_from", globals_.smtp_from); !s) return s;
    if (auto s = text("smtp_smarthost", globals_.smtp_smarthost); !s) return s;
    if (auto s = text("smtp_auth_username", globals_.smtp_auth_username); !s) return s;
    auto password = secret(node, "global", "smtp_auth_password", "smtp_auth_password_file", false);
    if (!password) return password.error();
    globals_.smtp_auth_password = std::move(*password);
    if (const YAML::Node value = node["smtp_require_tls"]) {
      auto parsed = boolean(value, "global.smtp_require_tls");
      if (!parsed) return parsed.error();
      globals_.smtp_require_tls = *parsed;
    }
    return Status::ok();
  }

  Status parseReceiver(const YAML::Node& node, std::size_t index, Receiver& out) {
    std::string where = fmt::format("receivers[{}]", index);
    if (auto s = checkMap(node, where, {"name", "webhook_configs", "email_configs"}); !s) return s;
    if (!node["name"]) return fail(where, "name is required");
    auto name = scalar(node["name"], where + ".name");
    if (!name) return name.error();
    if (name->empty()) return fail(where + ".name", "must not be empty");
    out.name = std::move(*name);
    where = fmt::format("receiver \"{}\"", out.name);
    if (const YAML::Node hooks = node["webhook_configs"]) {
      if (!hooks.IsSequence()) return fail(where + ": webhook_configs", "must be a list");
      for (std::size_t i = 0; i < hooks.size(); ++i) {
        WebhookConfig hook;
        if (auto s = parseWebhook(hooks[i], fmt::format("{}: webhook_configs[{}]", where, i), hook);
            !s) {
          return s;
        }
        out.webhook_configs.push_back(std::move(hook));
      }
    }
    if (const YAML::Node emails = node["email_configs"]) {
      if (!emails.IsSequence()) return fail(where + ": email_configs", "must be a list");
      for (std::size_t i = 0; i < emails.size(); ++i) {
        EmailConfig email;
        if (auto s = parseEmail(emails[i], fmt::format("{}: email_configs[{}]", where, i), email);
            !s) {
          return s;
        }
        out.email_configs.push_back(std::move(email));
      }
    }
    return Status::ok();
  }

  Status parseWebhook(const YAML::Node& node, const std::string& where, WebhookConfig& out) {
    if (auto s = checkMap(node, where,
                          {"url", "send_resolved", "format", "headers", "timeout", "max_alerts",
                           "hmac_secret", "hmac_secret_file", "http_config"});
        !s) {
      return s;
    }
    if (!node["url"]) return fail(where, "url is required");
    auto url = scalar(node["url"], where + ".url");
    if (!url) return url.error();
    if (!url->starts_with("http://") && !url->starts_with("https://")) {
      return fail(where + ".url", "must be an http:// or https:// URL");
    }
    out.url = std::move(*url);
    if (const YAML::Node value = node["send_resolved"]) {
      auto parsed = boolean(value, where + ".send_resolved");
      if (!parsed) return parsed.error();
      out.send_resolved = *parsed;
    }
    if (const YAML::Node value = node["format"]) {
      auto parsed = scalar(value, where + ".format");
      if (!parsed) return parsed.error();
      if (*parsed == "alertmanager") {
        out.format = WebhookFormat::Alertmanager;
      } else if (*parsed == "slack") {
        out.format = WebhookFormat::Slack;
      } else if (*parsed == "json") {
        out.format = WebhookFormat::Json;
      } else {
        return fail(where + ".format",
                    fmt::format("must be alertmanager, slack or json (got \"{}\")", *parsed));
      }
    }
    if (const YAML::Node headers = node["headers"]) {
      if (!headers.IsMap()) return fail(where + ".headers", "must be a mapping of name: value");
      for (const auto& entry : headers) {
        const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
        const std::string field = fmt::format("{}.headers.{}", where, name);
        if (!isToken(name)) return fail(where + ".headers", "a header name is not a valid token");
        for (std::string_view reserved : {"Content-Length", "Host", "Transfer-Encoding",
                                          "Connection", "X-PointTron-Signature"}) {
          if (equalsIgnoreCase(name, reserved)) return fail(field, "is set by the sender");
        }
        if (!entry.second.IsScalar()) return fail(field, "must be a string");
        const std::string& value = entry.second.Scalar();
        if (value.find_first_of("\r\n") != std::string::npos) {
          return fail(field, "must not contain line breaks");
        }
        out.headers.emplace_back(name, value);
      }
    }
    if (const YAML::Node value = node["timeout"]) {
      auto parsed = duration(value, where + ".timeout");
      if (!parsed) return parsed.error();
      if (parsed->count() <= 0) return fail(where + ".timeout", "must be > 0");
      out.timeout = *parsed;
    }
    if (const YAML::Node value = node["max_alerts"]) {
      auto parsed = count(value, where + ".max_alerts");
      if (!parsed) return parsed.error();
      out.max_alerts = *parsed;
    }
    auto hmac = secret(node, where, "hmac_secret", "hmac_secret_file", false);
    if (!hmac) return hmac.error();
    out.hmac_secret = std::move(*hmac);
    if (const YAML::Node http = node["http_config"]) {
      if (auto s = parseHttpConfig(http, where + ".http_config", out); !s) return s;
    }
    return Status::ok();
  }

  // The subset of Alertmanager's http_config that is a header: authorization and basic_auth.
  Status parseHttpConfig(const YAML::Node& node, const std::string& where, WebhookConfig& out) {
    if (!node.IsMap()) return fail(where, "must be a mapping");
    for (const auto& entry : node) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      if (key != "authorization" && key != "basic_auth") {
        return fail(where, fmt::format("\"{}\" is not supported (only authorization and "
                                       "basic_auth)",
                                       key));
      }
    }
    const auto has_header = [&] {
      return std::any_of(out.headers.begin(), out.headers.end(),
                         [](const auto& h) { return equalsIgnoreCase(h.first, "Authorization"); });
    };
    if (node["authorization"] && node["basic_auth"]) {
      return fail(where, "give authorization or basic_auth, not both");
    }
    if (const YAML::Node auth = node["authorization"]) {
      const std::string at = where + ".authorization";
      if (auto s = checkMap(auth, at, {"type", "credentials", "credentials_file"}); !s) return s;
      std::string type = "Bearer";
      if (auth["type"]) {
        auto parsed = scalar(auth["type"], at + ".type");
        if (!parsed) return parsed.error();
        if (!isToken(*parsed)) return fail(at + ".type", "must be a scheme name like Bearer");
        type = *parsed;
      }
      auto credentials = secret(auth, at, "credentials", "credentials_file", true);
      if (!credentials) return credentials.error();
      if (credentials->find_first_of("\r\n") != std::string::npos) {
        return fail(at, "credentials must not contain line breaks");
      }
      if (has_header()) return fail(at, "conflicts with an Authorization entry in headers");
      out.headers.emplace_back("Authorization", type + " " + *credentials);
    }
    if (const YAML::Node basic = node["basic_auth"]) {
      const std::string at = where + ".basic_auth";
      if (auto s = checkMap(basic, at, {"username", "password", "password_file"}); !s) return s;
      if (!basic["username"]) return fail(at, "username is required");
      auto username = scalar(basic["username"], at + ".username");
      if (!username) return username.error();
      if (username->find(':') != std::string::npos) {
        return fail(at + ".username", "must not contain ':'");
      }
      auto password = secret(basic, at, "password", "password_file", true);
      if (!password) return password.error();
      if (has_header()) return fail(at, "conflicts with an Authorization entry in headers");
      out.headers.emplace_back("Authorization", "Basic " + base64(*username + ":" + *password));
    }
    return Status::ok();
  }

  static std::string base64(std::string_view data) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
      const auto n = (std::uint32_t(std::uint8_t(data[i])) << 16) |
                     (std::uint32_t(std::uint8_t(data[i + 1])) << 8) | std::uint8_t(data[i + 2]);
      for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
    }
    if (i < data.size()) {
      std::uint32_t n = std::uint32_t(std::uint8_t(data[i])) << 16;
      if (i + 1 < data.size()) n |= std::uint32_t(std::uint8_t(data[i + 1])) << 8;
      out.push_back(kAlphabet[(n >> 18) & 63]);
      out.push_back(kAlphabet[(n >> 12) & 63]);
      out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
      out.push_back('=');
    }
    return out;
  }

  Status parseEmail(const YAML::Node& node, const std::string& where, EmailConfig& out) {
    if (auto s = checkMap(node, where,
                          {"to", "from", "smarthost", "auth_username", "auth_password",
                           "auth_password_file", "require_tls", "send_resolved", "timeout"});
        !s) {
      return s;
    }
    if (!node["to"]) return fail(where, "to is required");
    auto to = scalar(node["to"], where + ".to");
    if (!to) return to.error();
    std::string problem;
    out.recipients = parseAddresses(*to, problem);
    if (!problem.empty()) return fail(where + ".to", problem);
    out.to = std::move(*to);

    out.from = globals_.smtp_from;
    if (node["from"]) {
      auto from = scalar(node["from"], where + ".from");
      if (!from) return from.error();
      out.from = std::move(*from);
    }
    if (out.from.empty()) return fail(where, "from is required (or global.smtp_from)");
    auto from_addresses = parseAddresses(out.from, problem);
    if (!problem.empty()) return fail(where + ".from", problem);
    if (from_addresses.size() != 1) return fail(where + ".from", "must be exactly one address");
    out.from_address = from_addresses.front();
    for (const std::string* header : {&out.to, &out.from}) {
      if (header->find_first_of("\r\n") != std::string::npos) {
        return fail(where, "to and from must not contain line breaks");
      }
    }

    std::string smarthost = globals_.smtp_smarthost;
    if (node["smarthost"]) {
      auto parsed = scalar(node["smarthost"], where + ".smarthost");
      if (!parsed) return parsed.error();
      smarthost = std::move(*parsed);
    }
    if (smarthost.empty()) return fail(where, "smarthost is required (or global.smtp_smarthost)");
    const auto colon = smarthost.rfind(':');
    unsigned port = 0;
    if (colon == std::string::npos || colon == 0) {
      return fail(where + ".smarthost", "must be host:port");
    }
    const std::string_view port_text = std::string_view(smarthost).substr(colon + 1);
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return fail(where + ".smarthost", "must be host:port with a port in 1..65535");
    }
    std::string host = smarthost.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    out.smarthost_host = std::move(host);
    out.smarthost_port = static_cast<std::uint16_t>(port);

    out.auth_username = globals_.smtp_auth_username;
    if (node["auth_username"]) {
      auto parsed = scalar(node["auth_username"], where + ".auth_username");
      if (!parsed) return parsed.error();
      out.auth_username = std::move(*parsed);
    }
    auto password = secret(node, where, "auth_password", "auth_password_file", false);
    if (!password) return password.error();
    out.auth_password = password->empty() ? globals_.smtp_auth_password : std::move(*password);
    if (!out.auth_password.empty() && out.auth_username.empty()) {
      return fail(where, "auth_password needs auth_username");
    }
    out.require_tls = globals_.smtp_require_tls;
    if (node["require_tls"]) {
      auto parsed = boolean(node["require_tls"], where + ".require_tls");
      if (!parsed) return parsed.error();
      out.require_tls = *parsed;
    }
    if (node["send_resolved"]) {
      auto parsed = boolean(node["send_resolved"], where + ".send_resolved");
      if (!parsed) return parsed.error();
      out.send_resolved = *parsed;
    }
    if (node["timeout"]) {
      auto parsed = duration(node["timeout"], where + ".timeout");
      if (!parsed) return parsed.error();
      if (parsed->count() <= 0) return fail(where + ".timeout", "must be > 0");
      out.timeout = *parsed;
    }
    return Status::ok();
  }

  Status parseRoute(const YAML::Node& node, const Route* parent, const std::string& id,
                    Route& out) {
    if (auto s = checkMap(node, id,
                          {"receiver", "group_by", "group_wait", "group_interval",
                           "repeat_interval", "matchers", "continue", "routes"});
        !s) {
      return s;
    }
    if (parent != nullptr) {
      out.receiver = parent->receiver;
      out.group_by = parent->group_by;
      out.group_by_all = parent->group_by_all;
      out.group_wait = parent->group_wait;
      out.group_interval = parent->group_interval;
      out.repeat_interval = parent->repeat_interval;
    }
    out.id = id;
    if (node["receiver"]) {
      auto receiver = scalar(node["receiver"], id + ".receiver");
      if (!receiver) return receiver.error();
      out.receiver = std::move(*receiver);
    }
    if (parent == nullptr && out.receiver.empty())
      return fail(id, "receiver is required at the root");
    if (node["group_by"]) {
      auto labels = strings(node["group_by"], id + ".group_by");
      if (!labels) return labels.error();
      out.group_by.clear();
      out.group_by_all = false;
      std::set<std::string> seen;
      for (const std::string& label : *labels) {
        if (label == kGroupByAll) {
          if (labels->size() != 1) {
            return fail(id + ".group_by",
                        "'...' (all labels) cannot be combined with other labels");
          }
          out.group_by_all = true;
          continue;
        }
        if (!isLabelName(label)) {
          return fail(id + ".group_by", fmt::format("\"{}\" is not a valid label name", label));
        }
        if (!seen.insert(label).second) {
          return fail(id + ".group_by", fmt::format("\"{}\" is listed twice", label));
        }
        out.group_by.push_back(label);
      }
      std::sort(out.group_by.begin(), out.group_by.end());
    }
    for (auto [key, field] : {std::pair{"group_wait", &out.group_wait},
                              std::pair{"group_interval", &out.group_interval},
                              std::pair{"repeat_interval", &out.repeat_interval}}) {
      if (!node[key]) continue;
      auto parsed = duration(node[key], join(id, key));
      if (!parsed) return parsed.error();
      *field = *parsed;
    }
    if (out.group_interval.count() <= 0) return fail(join(id, "group_interval"), "must be > 0");
    if (out.repeat_interval.count() <= 0) return fail(join(id, "repeat_interval"), "must be > 0");
    if (node["matchers"]) {
      if (parent == nullptr) return fail(id + ".matchers", "the root route must match everything");
      auto parsed = matchers(node["matchers"], id + ".matchers");
      if (!parsed) return parsed.error();
      out.matchers = std::move(*parsed);
      sortMatchers(out.matchers);
    }
    if (node["continue"]) {
      if (parent == nullptr) return fail(id + ".continue", "is not allowed at the root");
      auto parsed = boolean(node["continue"], id + ".continue");
      if (!parsed) return parsed.error();
      out.continue_matching = *parsed;
    }
    out.key =
        (parent != nullptr ? parent->key + "/" : std::string()) + matchersString(out.matchers);
    if (const YAML::Node children = node["routes"]) {
      if (!children.IsSequence()) return fail(id + ".routes", "must be a list");
      out.routes.resize(children.size());
      for (std::size_t i = 0; i < children.size(); ++i) {
        if (auto s =
                parseRoute(children[i], &out, fmt::format("{}.routes[{}]", id, i), out.routes[i]);
            !s) {
          return s;
        }
      }
    }
    return Status::ok();
  }

  Status checkReceivers(const Route& route, const std::set<std::string>& names) const {
    if (names.count(route.receiver) == 0) {
      return fail(route.id + ".receiver",
                  fmt::format("receiver \"{}\" is not defined in receivers", route.receiver));
    }
    for (const Route& child : route.routes) {
      if (auto s = checkReceivers(child, names); !s) return s;
    }
    return Status::ok();
  }

  Status parseInhibitRule(const YAML::Node& node, const std::string& where, InhibitRule& out) {
    if (auto s = checkMap(node, where, {"source_matchers", "target_matchers", "equal"}); !s)
      return s;
    if (!node["source_matchers"]) return fail(where, "source_matchers is required");
    if (!node["target_matchers"]) return fail(where, "target_matchers is required");
    auto source = matchers(node["source_matchers"], where + ".source_matchers");
    if (!source) return source.error();
    auto target = matchers(node["target_matchers"], where + ".target_matchers");
    if (!target) return target.error();
    out.source_matchers = std::move(*source);
    out.target_matchers = std::move(*target);
    if (node["equal"]) {
      auto equal = strings(node["equal"], where + ".equal");
      if (!equal) return equal.error();
      for (const std::string& label : *equal) {
        if (!isLabelName(label)) {
          return fail(where + ".equal", fmt::format("\"{}\" is not a valid label name", label));
        }
      }
      out.equal = std::move(*equal);
    }
    return Status::ok();
  }

  std::string origin_;
  std::filesystem::path base_dir_;
  Globals globals_;
};

}  // namespace

std::string_view webhookFormatName(WebhookFormat format) noexcept {
  switch (format) {
    case WebhookFormat::Alertmanager:
      return "alertmanager";
    case WebhookFormat::Slack:
      return "slack";
    case WebhookFormat::Json:
      return "json";
  }
  return "unknown";
}

bool Receiver::sendsResolved() const {
  return std::any_of(webhook_configs.begin(), webhook_configs.end(),
                     [](const WebhookConfig& c) { return c.send_resolved; }) ||
         std::any_of(email_configs.begin(), email_configs.end(),
                     [](const EmailConfig& c) { return c.send_resolved; });
}

void Route::match(const LabelSet& labels, std::vector<const Route*>& out) const {
  if (!matchesAll(matchers, labels)) return;
  const std::size_t before = out.size();
  for (const Route& child : routes) {
    const std::size_t child_before = out.size();
    child.match(labels, out);
    if (out.size() != child_before && !child.continue_matching) break;
  }
  if (out.size() == before) out.push_back(this);
}

const Receiver* NotifyConfig::receiver(std::string_view name) const {
  for (const Receiver& r : receivers) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

pipeline::Result<NotifyConfig> parseNotifyConfig(std::string_view yaml, std::string_view origin) {
  return Parser(origin).parse(yaml);
}

pipeline::Result<NotifyConfig> loadNotifyConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{ErrorType::InvalidConfig, fmt::format("{}: cannot read the file", path)};
  }
  std::ostringstream content;
  content << in.rdbuf();
  return parseNotifyConfig(content.str(), path);
}

}  // namespace stages::alerter::notify
