#include "tests/tronsim/server.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "pipeline/json.h"

namespace tronsim {

using pipeline::http::Request;
using pipeline::http::Responder;
using pipeline::http::Response;

namespace {

constexpr std::string_view kContentType = "application/json; charset=utf-8";
constexpr std::array<std::string_view, 7> kEndpoints = {
    "getnowblock",      "getblockbynum",       "getblockbyid", "getblock",
    "getblockbylimitnext", "getblockbylatestnum", "getnodeinfo",
};
constexpr std::int64_t kLimitNextMax = 100;   // GetBlockByLimitNextServlet.BLOCK_LIMIT_NUM
constexpr std::int64_t kLatestNumLimit = 100;  // GetBlockByLatestNumServlet: 0 < n < 100

// A java-tron answer: compact JSON, println's "\n", always HTTP 200 unless a fault says otherwise.
Response nodeResponse(std::string body, int status = 200) {
  Response response;
  response.status = status;
  response.headers.add("Content-Type", std::string(kContentType));
  body.push_back('\n');
  response.body = std::move(body);
  return response;
}

// Util.printErrorMsg: e.getClass() + " : " + e.getMessage().
Response javaError(std::string_view exception_class, std::string_view message) {
  pipeline::json::Writer writer;
  writer.beginObject()
      .field("Error", fmt::format("class {} : {}", exception_class, message))
      .endObject();
  return nodeResponse(std::move(writer).str());
}

Response adminJson(int status, std::string body) { return nodeResponse(std::move(body), status); }

Response adminError(int status, std::string_view message) {
  pipeline::json::Writer writer;
  writer.beginObject().field("error", message).endObject();
  return adminJson(status, std::move(writer).str());
}

std::optional<std::int64_t> parseInt(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

bool isHex(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The request's parameters: the JSON body of a POST or the query of a GET, as java-tron's
// servlets read them (doPost parses the body, doGet reads request.getParameter).
class Params {
 public:
  // Returns a java-tron Error response when the body cannot be parsed.
  std::optional<Response> load(const Request& request, bool reads_body) {
    request_ = &request;
    if (request.method != "POST" || !reads_body) return std::nullopt;
    use_body_ = true;
    const auto first = request.body.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
      // The servlet hands "" to JsonFormat.merge: the fixture's exact error.
      return javaError("org.tron.core.services.http.JsonFormat$ParseException",
                       "1:1: Expected \"{\".");
    }
    simdjson::dom::element root;
    if (auto error = parser_.parse(request.body).get(root); error) {
      return javaError("org.tron.json.JSONException", simdjson::error_message(error));
    }
    if (root.get_object().get(object_)) {
      return javaError("org.tron.core.services.http.JsonFormat$ParseException",
                       "1:1: Expected \"{\".");
    }
    return std::nullopt;
  }

  // The value of `name` as text (JSON scalars rendered), or nullopt when absent.
  std::optional<std::string> get(std::string_view name) const {
    if (!use_body_) {
      auto value = request_->queryParam(name);
      if (!value) return std::nullopt;
      return std::string(*value);
    }
    simdjson::dom::element value;
    if (object_.at_key(name).get(value)) return std::nullopt;
    switch (value.type()) {
      case simdjson::dom::element_type::STRING: return std::string(std::string_view(value));
      case simdjson::dom::element_type::INT64: return std::to_string(int64_t(value));
      case simdjson::dom::element_type::UINT64: return std::to_string(uint64_t(value));
      case simdjson::dom::element_type::BOOL: return bool(value) ? "true" : "false";
      case simdjson::dom::element_type::DOUBLE: return fmt::format("{}", double(value));
      case simdjson::dom::element_type::NULL_VALUE: return std::nullopt;
      default: return std::string(simdjson::to_string(value));
    }
  }

  // An int64 field. `fallback` when absent (POST: proto3 default); nullopt + error otherwise.
  std::optional<std::int64_t> getInt(std::string_view name, std::optional<std::int64_t> fallback,
                                     std::optional<Response>& error) const {
    auto text = get(name);
    if (!text) {
      if (use_body_ && fallback) return fallback;  // proto3 default; GET's getParameter is null
      error = javaError("java.lang.NumberFormatException", "null");
      return std::nullopt;
    }
    auto value = parseInt(*text);
    if (!value) {
      error = javaError("java.lang.NumberFormatException",
                        fmt::format("For input string: \"{}\"", *text));
    }
    return value;
  }

  bool getBool(std::string_view name) const {
    auto text = get(name);
    return text && (*text == "true" || *text == "True" || *text == "TRUE");
  }

  // `visible`: the body field of a POST, else the query parameter (Util.getVisible).
  bool visible(bool query_only) const {
    if (use_body_ && !query_only) {
      simdjson::dom::element value;
      if (!object_.at_key("visible").get(value)) return getBool("visible");
    }
    auto param = request_->queryParam("visible");
    return param && (*param == "true" || *param == "True" || *param == "TRUE");
  }

 private:
  const Request* request_ = nullptr;
  bool use_body_ = false;
  simdjson::dom::parser parser_;
  simdjson::dom::object object_;
};

}  // namespace

TronServer::TronServer(uv_loop_t& loop, Node& node, Faults& faults,
                       pipeline::http::ServerOptions options)
    : loop_(loop), node_(node), faults_(faults), server_(loop, std::move(options)) {
  for (const std::string_view api : {"wallet", "walletsolidity"}) {
    for (const auto endpoint : kEndpoints) {
      const std::string path = fmt::format("/{}/{}", api, endpoint);
      for (const char* method : {"GET", "POST"}) {
        server_.routeAsync(method, path,
                           [this, api = std::string(api), endpoint = std::string(endpoint)](
                               const Request& request, Responder responder) {
                             onApi(api, endpoint, request, std::move(responder));
                           });
      }
    }
  }
  addAdminRoutes();
}

TronServer::~TronServer() { delays_.clear(); }

void TronServer::stop(std::function<void()> on_stopped) {
  delays_.clear();
  server_.stop(std::move(on_stopped));
}

void TronServer::send(const Responder& responder, Response response) {
  ++stats_.responses;
  stats_.body_bytes += response.body.size();
  responder.respond(std::move(response));
}

void TronServer::onApi(std::string api, std::string endpoint, const Request& request,
                       Responder responder) noexcept {
  try {
    ++stats_.requests;
    ++stats_.by_path[request.path];
    FaultDecision decision = faults_.decide(request.path);
    if (decision.fault) {
      ++stats_.faults;
      log_.debug("Fault fired.", {{"kind", faultKindName(decision.fault->kind)},
                                  {"path", request.path}});
    }
    if (decision.delay_ms == 0) {
      execute(api, endpoint, request, responder, decision.fault);
      return;
    }
    auto timer = pipeline::uv::Timer::create(loop_);
    if (!timer) {
      execute(api, endpoint, request, responder, decision.fault);
      return;
    }
    const std::uint64_t id = next_delay_id_++;
    auto& stored = delays_.emplace(id, std::move(*timer)).first->second;
    // The request is copied: the connection (and its Request) may be gone when the timer fires.
    auto status = stored.start(
        decision.delay_ms, 0,
        [this, id, api = std::move(api), endpoint = std::move(endpoint), copy = request,
         responder, fault = std::move(decision.fault)] {
          if (responder.pending()) execute(api, endpoint, copy, responder, fault);
          delays_.erase(id);  // closes this timer; the lambda's box lives until uv_close's callback
        });
    if (!status) {
      delays_.erase(id);
      execute(api, endpoint, request, responder, std::nullopt);
    }
  } catch (...) {
    responder.respond(javaError("java.lang.RuntimeException", "tronsim internal error"));
  }
}

void TronServer::execute(const std::string& api, const std::string& endpoint,
                         const Request& request, const Responder& responder,
                         const std::optional<FaultRule>& fault) noexcept {
  try {
    if (!fault) {
      send(responder, render(api, endpoint, request));
      return;
    }
    switch (fault->kind) {
      case FaultKind::HttpError:
      case FaultKind::Suspended:
      case FaultKind::Empty:
      case FaultKind::JavaError: {
        Response response = nodeResponse(Faults::bodyFor(*fault), Faults::statusFor(*fault));
        if (auto seconds = Faults::retryAfterFor(*fault)) {
          response.headers.add("Retry-After", std::to_string(*seconds));
        }
        send(responder, std::move(response));
        return;
      }
      case FaultKind::Stall:
        ++stats_.stalled;  // the Responder is dropped: the request waits until the peer gives up
        return;
      case FaultKind::Reset:
      case FaultKind::Truncate: {
        std::string sent;
        if (fault->kind == FaultKind::Truncate) {
          Response full = render(api, endpoint, request);
          sent = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                             kContentType, full.body.size());
          if (request.method != "HEAD") sent.append(full.body, 0, full.body.size() / 2);
          ++stats_.truncated;
        } else {
          ++stats_.reset;
        }
        responder.abort(std::move(sent));
        return;
      }
    }
  } catch (...) {
    responder.respond(javaError("java.lang.RuntimeException", "tronsim internal error"));
  }
}

Response TronServer::render(std::string_view api, std::string_view endpoint,
                            const Request& request) {
  const bool solid = api == "walletsolidity";
  const bool reads_body = endpoint != "getnowblock" && endpoint != "getnodeinfo";
  Params params;
  if (auto error = params.load(request, reads_body)) return std::move(*error);
  std::optional<Response> error;
  const Chain& chain = node_.chain();

  auto recorded = [&](std::string_view key) {
    auto body = node_.recorded(api, endpoint, key);
    if (!body) return nodeResponse("{}");
    Response response = nodeResponse(std::move(*body));
    response.body.pop_back();  // nodeResponse's "\n"; the file's own bytes decide
    if (response.body.empty() || response.body.back() != '\n') response.body.push_back('\n');
    return response;
  };
  auto block = [&](std::int64_t height, bool visible, bool detail = true) {
    if (!node_.visible(height, solid)) return nodeResponse("{}");
    return nodeResponse(detail ? chain.blockJson(height, visible)
                               : chain.headerJson(height, visible));
  };
  auto blockList = [&](std::int64_t from, std::int64_t to_exclusive, bool visible) {
    const std::int64_t first = std::max(from, node_.firstHeight());
    const std::int64_t last = std::min(to_exclusive - 1, node_.viewHead(solid));
    // Sized first: a 100-block page is ≈ 28 MB, and growing it by doubling would copy it again.
    std::vector<std::shared_ptr<const std::string>> blocks;
    std::size_t size = 16;  // the list's brackets and nodeResponse's "\n"
    for (std::int64_t height = first; height <= last; ++height) {
      blocks.push_back(chain.blockJsonShared(height, visible));
      size += blocks.back()->size() + 1;
    }
    std::string body;
    body.reserve(size);
    body += "{\"block\":[";
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i > 0) body.push_back(',');
      body += *blocks[i];
    }
    body += "]}";
    return nodeResponse(std::move(body));
  };
  // blockID: 16 hex of the height, then the hash; only a block on the current branch matches.
  auto heightOfId = [&](std::string_view id) -> std::optional<std::int64_t> {
    if (id.size() != 64 || !isHex(id)) return std::nullopt;
    std::uint64_t height = 0;
    auto [ptr, ec] = std::from_chars(id.data(), id.data() + 16, height, 16);
    if (ec != std::errc() || ptr != id.data() + 16 || height > INT64_MAX) return std::nullopt;
    const auto number = static_cast<std::int64_t>(height);
    if (!node_.visible(number, solid) || chain.blockId(number) != lowercase(id)) {
      return std::nullopt;
    }
    return number;
  };

  if (endpoint == "getnowblock") {
    if (node_.recordedMode()) return recorded("");
    return block(node_.viewHead(solid), params.visible(/*query_only=*/true));
  }
  if (endpoint == "getblockbynum") {
    auto num = params.getInt("num", 0, error);
    if (!num) return std::move(*error);
    if (node_.recordedMode()) return recorded(std::to_string(*num));
    return block(*num, params.visible(false));
  }
  if (endpoint == "getblockbyid") {
    const std::string value = params.get("value").value_or("");
    if (node_.recordedMode()) return recorded(lowercase(value));
    auto height = heightOfId(value);
    if (!height) return nodeResponse("{}");
    return block(*height, params.visible(false));
  }
  if (endpoint == "getblock") {
    const std::string id_or_num = params.get("id_or_num").value_or("");
    const bool detail = params.getBool("detail");
    const bool visible = params.visible(false);
    if (node_.recordedMode()) {
      return recorded(detail ? fmt::format("{}_detail", lowercase(id_or_num))
                             : lowercase(id_or_num));
    }
    if (id_or_num.empty()) return block(node_.viewHead(solid), visible, detail);
    if (auto num = parseInt(id_or_num)) {
      if (*num < 0) {
        return javaError("java.lang.IllegalArgumentException", "num must be non-positive number.");
      }
      return block(*num, visible, detail);
    }
    if (id_or_num.size() != 64 || !isHex(id_or_num)) {
      return javaError("java.lang.IllegalArgumentException", "id must be legal block hash.");
    }
    auto height = heightOfId(id_or_num);
    if (!height) return nodeResponse("{}");
    return block(*height, visible, detail);
  }
  if (endpoint == "getblockbylimitnext") {
    auto start = params.getInt("startNum", 0, error);
    if (!start) return std::move(*error);
    auto end = params.getInt("endNum", 0, error);
    if (!end) return std::move(*error);
    if (node_.recordedMode()) return recorded(fmt::format("{}-{}", *start, *end));
    if (!(*end > 0 && *end > *start && *end - *start <= kLimitNextMax)) return nodeResponse("{}");
    return blockList(*start, *end, params.visible(false));
  }
  if (endpoint == "getblockbylatestnum") {
    auto num = params.getInt("num", 0, error);
    if (!num) return std::move(*error);
    if (node_.recordedMode()) return recorded(std::to_string(*num));
    if (!(*num > 0 && *num < kLatestNumLimit)) return nodeResponse("{}");
    const std::int64_t top = node_.viewHead(solid);
    return blockList(top - *num + 1, top + 1, params.visible(false));
  }
  if (endpoint == "getnodeinfo") {
    if (node_.recordedMode()) return recorded("");
    auto summary = [&](std::int64_t height) {
      if (height < node_.firstHeight()) return fmt::format("Num:{},ID:", height);
      return fmt::format("Num:{},ID:{}", height, chain.blockId(height));
    };
    pipeline::json::Writer writer;
    writer.beginObject()
        .field("beginSyncNum", node_.head())
        .field("block", summary(node_.head()))
        .field("solidityBlock", summary(node_.solidHead()))
        .field("currentConnectCount", 0)
        .field("activeConnectCount", 0)
        .field("passiveConnectCount", 0)
        .field("totalFlow", 0)
        .key("peerInfoList")
        .beginArray()
        .endArray()
        .key("configNodeInfo")
        .beginObject()
        .field("codeVersion", "4.8.1")
        .field("p2pVersion", "11111")
        .field("listenPort", 18888)
        .field("discoverEnable", false)
        .field("activeNodeSize", 0)
        .field("passiveNodeSize", 0)
        .field("sendNodeSize", 0)
        .field("maxConnectCount", 30)
        .field("sameIpMaxConnectCount", 2)
        .field("backupListenPort", 10001)
        .field("backupMemberSize", 0)
        .field("backupPriority", 0)
        .field("dbVersion", 2)
        .field("minParticipationRate", 15)
        .field("supportConstant", true)
        .field("minTimeRatio", 0.0)
        .field("maxTimeRatio", 5.0)
        .field("allowCreationOfContracts", 0)
        .field("allowAdaptiveEnergy", 0)
        .endObject()
        .key("machineInfo")
        .beginObject()
        .field("threadCount", 1)
        .field("deadLockThreadCount", 0)
        .field("cpuCount", 1)
        .field("totalMemory", std::int64_t{0})
        .field("freeMemory", std::int64_t{0})
        .field("cpuRate", 0.0)
        .field("javaVersion", "tronsim")
        .field("osName", "Linux")
        .endObject()
        .key("cheatWitnessInfoMap")
        .beginObject()
        .endObject()
        .endObject();
    return nodeResponse(std::move(writer).str());
  }
  return javaError("java.lang.IllegalArgumentException", "unknown endpoint");
}

void TronServer::addAdminRoutes() {
  // Reads one integer field of an admin body; nullopt when absent. Errors go to `error`.
  struct AdminBody {
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    std::string error;
    bool load(const std::string& body) {
      simdjson::dom::element root;
      if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
        error = "body: required";
        return false;
      }
      if (parser.parse(body).get(root) || root.get_object().get(object)) {
        error = "body: must be a JSON object";
        return false;
      }
      return true;
    }
    std::optional<std::int64_t> integer(std::string_view key) {
      std::int64_t value = 0;
      simdjson::dom::element element;
      if (object.at_key(key).get(element)) return std::nullopt;
      if (element.get_int64().get(value)) {
        error = fmt::format("{}: must be an integer", key);
        return std::nullopt;
      }
      return value;
    }
  };
  auto headJson = [this] {
    pipeline::json::Writer writer;
    writer.beginObject()
        .field("head", node_.head())
        .field("solid_head", node_.solidHead())
        .field("first_height", node_.firstHeight())
        .field("first_timestamp_ms", node_.chain().options().first_timestamp_ms)
        .field("live", node_.live())
        .field("wall_clock", node_.options().wall_clock)
        .endObject();
    return adminJson(200, std::move(writer).str());
  };

  server_.route("GET", "/admin/faults",
                [this](const Request&) { return adminJson(200, faults_.config().toJson()); });
  server_.route("POST", "/admin/faults", [this](const Request& request) {
    auto config = FaultConfig::fromJson(request.body);
    if (!config) return adminError(400, config.error().message);
    faults_.configure(std::move(*config));
    log_.info("Faults configured.", {{"rules", faults_.config().rules.size()}});
    return adminJson(200, faults_.config().toJson());
  });
  server_.route("DELETE", "/admin/faults", [this](const Request&) {
    faults_.clear();
    log_.info("Faults cleared.");
    return adminJson(200, faults_.config().toJson());
  });
  server_.route("GET", "/admin/head", [headJson](const Request&) { return headJson(); });
  server_.route("POST", "/admin/head", [this, headJson](const Request& request) {
    AdminBody body;
    if (!body.load(request.body)) return adminError(400, body.error);
    auto height = body.integer("height");
    if (!height) return adminError(400, body.error.empty() ? "height: required" : body.error);
    node_.setHead(*height);
    log_.info("Head set.", {{"head", node_.head()}});
    return headJson();
  });
  server_.route("POST", "/admin/fork", [this](const Request& request) {
    AdminBody body;
    if (!body.load(request.body)) return adminError(400, body.error);
    auto depth = body.integer("depth");
    if (!depth) return adminError(400, body.error.empty() ? "depth: required" : body.error);
    auto advance = body.integer("advance");
    if (!body.error.empty()) return adminError(400, body.error);
    auto fork = node_.fork(*depth, advance.value_or(0));
    if (!fork) return adminError(400, fork.error().message);
    log_.info("Fork injected.", {{"from_height", fork->from_height},
                                 {"branch", fork->branch},
                                 {"head", fork->head}});
    pipeline::json::Writer writer;
    writer.beginObject()
        .field("from_height", fork->from_height)
        .field("branch", fork->branch)
        .field("head", fork->head)
        .endObject();
    return adminJson(200, std::move(writer).str());
  });
  // Production times (Node::producedAtMs) of the heights in [from, to] that have one.
  server_.route("GET", "/admin/blocks", [this](const Request& request) {
    std::int64_t bounds[2] = {0, 0};
    const std::string_view names[2] = {"from", "to"};
    for (std::size_t i = 0; i < 2; ++i) {
      auto text = request.queryParam(names[i]);
      auto value = text ? parseInt(*text) : std::nullopt;
      if (!value) return adminError(400, fmt::format("{}: required integer", names[i]));
      bounds[i] = *value;
    }
    const auto& produced = node_.producedAtMs();
    pipeline::json::Writer writer;
    writer.beginObject().key("blocks").beginArray();
    for (auto it = produced.lower_bound(bounds[0]);
         it != produced.end() && it->first <= bounds[1]; ++it) {
      writer.beginObject().field("height", it->first).field("produced_at_ms", it->second).endObject();
    }
    writer.endArray().endObject();
    return adminJson(200, std::move(writer).str());
  });
  server_.route("GET", "/admin/stats", [this](const Request&) {
    pipeline::json::Writer writer;
    writer.beginObject()
        .field("requests", stats_.requests)
        .field("responses", stats_.responses)
        .field("body_bytes", stats_.body_bytes)
        .field("faults", stats_.faults)
        .field("stalled", stats_.stalled)
        .field("reset", stats_.reset)
        .field("truncated", stats_.truncated)
        .key("by_path")
        .beginObject();
    for (const auto& [path, count] : stats_.by_path) writer.field(path, count);
    writer.endObject().endObject();
    return adminJson(200, std::move(writer).str());
  });
}

}  // namespace tronsim
