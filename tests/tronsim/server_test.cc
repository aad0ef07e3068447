#include "tests/tronsim/server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/http/client.h"
#include "tests/support/loop_runner.h"

namespace tronsim {
namespace {

using pipeline::ErrorType;
using pipeline::Result;
using pipeline::http::Client;
using pipeline::http::Response;

constexpr std::int64_t kHead = 1000;

// Every "number":N in a body, in order.
std::vector<std::int64_t> numbers(const std::string& body) {
  std::vector<std::int64_t> out;
  const std::string key = "\"number\":";
  for (auto pos = body.find(key); pos != std::string::npos; pos = body.find(key, pos + 1)) {
    out.push_back(std::stoll(body.substr(pos + key.size())));
  }
  return out;
}

std::string field(const std::string& body, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  auto pos = body.find(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  return body.substr(pos, body.find('"', pos) - pos);
}

class TronServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(NodeOptions options) {
    if (server_) {
      bool stopped = false;
      server_->stop([&] { stopped = true; });
      ASSERT_TRUE(runner_.runUntil([&] { return stopped; }));
      server_.reset();
    }
    options.chain.profile = Profile::Small;
    options.chain.seed = 5;
    if (options.head == NodeOptions{}.head) options.head = kHead;
    node_ = std::make_unique<Node>(runner_.loop(), options);
    ASSERT_TRUE(node_->start());
    server_ = std::make_unique<TronServer>(runner_.loop(), *node_, faults_,
                                           pipeline::http::ServerOptions{});
    ASSERT_TRUE(server_->listen());
    if (!client_) {
      auto client = Client::create(runner_.loop());
      ASSERT_TRUE(client);
      client_ = std::move(*client);
    }
  }

  void TearDown() override {
    bool closed = false;
    client_->close([&] { closed = true; });
    EXPECT_TRUE(runner_.runUntil([&] { return closed; }));
    bool stopped = false;
    server_->stop([&] { stopped = true; });
    EXPECT_TRUE(runner_.runUntil([&] { return stopped; }));
    server_.reset();
    node_->stop();
  }

  Result<Response> call(std::string method, const std::string& target, std::string body = "",
                        std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    Client::Request request;
    request.method = std::move(method);
    request.url = "http://127.0.0.1:" + std::to_string(server_->port()) + target;
    request.body = std::move(body);
    request.timeout = timeout;
    std::optional<Result<Response>> result;
    client_->request(std::move(request), [&](Result<Response> r) { result = std::move(r); });
    EXPECT_TRUE(runner_.runUntil([&] { return result.has_value(); }));
    if (!result) return pipeline::Error{ErrorType::Timeout, "test gave up"};
    return std::move(*result);
  }

  // A 200 API answer's body without its trailing "\n" (checked here, once for every call).
  std::string post(const std::string& path, std::string body = "") {
    auto response = call("POST", path, std::move(body));
    EXPECT_TRUE(response) << response.error().message;
    if (!response) return "";
    EXPECT_EQ(200, response->status);
    EXPECT_EQ("application/json; charset=utf-8", response->headers.get("Content-Type").value_or(""));
    EXPECT_TRUE(response->body.ends_with("\n")) << response->body;
    std::string text = response->body;
    if (!text.empty()) text.pop_back();
    return text;
  }

  std::string get(const std::string& target) {
    auto response = call("GET", target);
    EXPECT_TRUE(response) << response.error().message;
    if (!response) return "";
    EXPECT_EQ(200, response->status);
    EXPECT_TRUE(response->body.ends_with("\n"));
    std::string text = response->body;
    if (!text.empty()) text.pop_back();
    return text;
  }

  void setFaults(const std::string& json) {
    auto response = call("POST", "/admin/faults", json);
    ASSERT_TRUE(response);
    ASSERT_EQ(200, response->status) << response->body;
  }

  testsupport::LoopRunner runner_;
  Faults faults_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<TronServer> server_;
  std::unique_ptr<Client> client_;
};

// getnowblock answers the head block, compact JSON plus "\n", for GET and POST.
TEST_F(TronServerTest, GetNowBlock) {
  const std::string body = post("/wallet/getnowblock");
  EXPECT_EQ(std::vector<std::int64_t>{kHead}, numbers(body));
  EXPECT_EQ(node_->chain().blockJson(kHead), body);
  EXPECT_EQ(body, get("/wallet/getnowblock"));
}

// getnowblock takes `visible` from the query only; a POST body's visible is ignored.
TEST_F(TronServerTest, GetNowBlockVisibleIsQueryOnly) {
  EXPECT_EQ(node_->chain().blockJson(kHead, false), post("/wallet/getnowblock", R"({"visible":true})"));
  EXPECT_EQ(node_->chain().blockJson(kHead, true), post("/wallet/getnowblock?visible=true"));
}

// getblockbynum: body or query, `{}` above the head and below the first height.
TEST_F(TronServerTest, GetBlockByNum) {
  EXPECT_EQ(node_->chain().blockJson(42), post("/wallet/getblockbynum", R"({"num":42})"));
  EXPECT_EQ(node_->chain().blockJson(42, true),
            post("/wallet/getblockbynum", R"({"num":42,"visible":true})"));
  EXPECT_EQ(node_->chain().blockJson(42, true), get("/wallet/getblockbynum?num=42&visible=true"));
  EXPECT_TRUE(field(get("/wallet/getblockbynum?num=42&visible=true"), "witness_address")
                  .starts_with("T"));
  EXPECT_EQ("{}", post("/wallet/getblockbynum", R"({"num":1001})"));
  EXPECT_EQ("{}", post("/wallet/getblockbynum", R"({})"));  // num defaults to 0: below first
}

// Bad input is HTTP 200 with java-tron's {"Error":"class … : …"} body.
TEST_F(TronServerTest, ErrorBodies) {
  EXPECT_EQ(
      R"({"Error":"class org.tron.core.services.http.JsonFormat$ParseException : 1:1: Expected \"{\"."})",
      post("/walletsolidity/getblockbynum"));
  EXPECT_EQ(R"({"Error":"class java.lang.NumberFormatException : For input string: \"abc\""})",
            get("/wallet/getblockbynum?num=abc"));
  EXPECT_TRUE(post("/wallet/getblockbynum", "{nope").starts_with(R"({"Error":"class )"));
  EXPECT_EQ(R"({"Error":"class java.lang.IllegalArgumentException : num must be non-positive number."})",
            post("/wallet/getblock", R"({"id_or_num":"-1"})"));
  EXPECT_EQ(R"({"Error":"class java.lang.IllegalArgumentException : id must be legal block hash."})",
            post("/wallet/getblock", R"({"id_or_num":"xyz"})"));
}

// getblockbylimitnext: [A,B) when 0 < B, A < B and B-A <= 100; otherwise `{}`; past the head the
// list is shorter, and a valid range with nothing in it is {"block":[]}.
TEST_F(TronServerTest, GetBlockByLimitNext) {
  EXPECT_EQ((std::vector<std::int64_t>{10, 11, 12}),
            numbers(post("/wallet/getblockbylimitnext", R"({"startNum":10,"endNum":13})")));
  EXPECT_EQ(100u, numbers(post("/wallet/getblockbylimitnext", R"({"startNum":1,"endNum":101})")).size());
  EXPECT_EQ("{}", post("/wallet/getblockbylimitnext", R"({"startNum":1,"endNum":102})"));
  EXPECT_EQ("{}", post("/wallet/getblockbylimitnext", R"({"startNum":13,"endNum":13})"));
  EXPECT_EQ("{}", post("/wallet/getblockbylimitnext", R"({"startNum":14,"endNum":13})"));
  EXPECT_EQ("{}", post("/wallet/getblockbylimitnext", R"({"startNum":0,"endNum":0})"));
  EXPECT_EQ((std::vector<std::int64_t>{999, 1000}),
            numbers(post("/wallet/getblockbylimitnext", R"({"startNum":999,"endNum":1010})")));
  EXPECT_EQ(R"({"block":[]})",
            post("/wallet/getblockbylimitnext", R"({"startNum":1001,"endNum":1010})"));
  EXPECT_EQ((std::vector<std::int64_t>{5, 6}),
            numbers(get("/wallet/getblockbylimitnext?startNum=5&endNum=7")));
  // parentHash links the page together.
  const std::string page = post("/wallet/getblockbylimitnext", R"({"startNum":20,"endNum":22})");
  EXPECT_NE(std::string::npos, page.find("\"parentHash\":\"" + node_->chain().blockId(20) + "\""));
}

// getblockbylatestnum: the latest n blocks ascending, for 0 < n < 100 only.
TEST_F(TronServerTest, GetBlockByLatestNum) {
  EXPECT_EQ((std::vector<std::int64_t>{996, 997, 998, 999, 1000}),
            numbers(post("/wallet/getblockbylatestnum", R"({"num":5})")));
  EXPECT_EQ(99u, numbers(post("/wallet/getblockbylatestnum", R"({"num":99})")).size());
  EXPECT_EQ("{}", post("/wallet/getblockbylatestnum", R"({"num":100})"));
  EXPECT_EQ("{}", post("/wallet/getblockbylatestnum", R"({"num":0})"));
}

// getblock: by number or hash, header only unless detail=true; empty id_or_num = the head.
TEST_F(TronServerTest, GetBlock) {
  const Chain& chain = node_->chain();
  EXPECT_EQ(chain.headerJson(77), post("/wallet/getblock", R"({"id_or_num":"77"})"));
  EXPECT_EQ(chain.blockJson(77), post("/wallet/getblock", R"({"id_or_num":"77","detail":true})"));
  EXPECT_EQ(chain.headerJson(77),
            post("/wallet/getblock", R"({"id_or_num":")" + chain.blockId(77) + R"("})"));
  EXPECT_EQ(chain.headerJson(kHead), post("/wallet/getblock", "{}"));
  EXPECT_EQ("{}", post("/wallet/getblock", R"({"id_or_num":"5000"})"));
  EXPECT_EQ("{}", post("/wallet/getblock", R"({"id_or_num":")" + std::string(64, 'a') + R"("})"));
}

// getblockbyid finds blocks on the current branch only.
TEST_F(TronServerTest, GetBlockById) {
  const std::string id = node_->chain().blockId(321);
  EXPECT_EQ(node_->chain().blockJson(321), post("/wallet/getblockbyid", R"({"value":")" + id + R"("})"));
  EXPECT_EQ(node_->chain().blockJson(321), get("/wallet/getblockbyid?value=" + id));
  EXPECT_EQ("{}", post("/wallet/getblockbyid", R"({"value":"00"})"));
  EXPECT_EQ("{}", post("/walletsolidity/getblockbyid",
                       R"({"value":")" + node_->chain().blockId(kHead) + R"("})"));
}

// /walletsolidity/ serves the solidified view, 18 blocks behind the head.
TEST_F(TronServerTest, SolidityViewLags) {
  EXPECT_EQ(std::vector<std::int64_t>{kHead - 18}, numbers(post("/walletsolidity/getnowblock")));
  EXPECT_EQ("{}", post("/walletsolidity/getblockbynum", R"({"num":983})"));
  EXPECT_EQ(std::vector<std::int64_t>{982},
            numbers(post("/walletsolidity/getblockbynum", R"({"num":982})")));
  EXPECT_EQ((std::vector<std::int64_t>{981, 982}),
            numbers(post("/walletsolidity/getblockbylimitnext", R"({"startNum":981,"endNum":990})")));
}

// getnodeinfo reports the head and solidified blocks as "Num:<n>,ID:<id>" strings.
TEST_F(TronServerTest, GetNodeInfo) {
  const std::string info = get("/wallet/getnodeinfo");
  EXPECT_EQ("Num:1000,ID:" + node_->chain().blockId(1000), field(info, "block"));
  EXPECT_EQ("Num:982,ID:" + node_->chain().blockId(982), field(info, "solidityBlock"));
  EXPECT_EQ("4.8.1", field(info, "codeVersion"));
}

// Live mode: the served head advances on its own.
TEST_F(TronServerTest, LiveHeadAdvances) {
  NodeOptions options;
  options.head = 50;
  options.live_interval_ms = 10;
  start(options);
  ASSERT_TRUE(runner_.runUntil([&] { return node_->head() >= 53; }));
  EXPECT_GE(numbers(post("/wallet/getnowblock")).at(0), 53);
}

// POST /admin/fork changes ids at and above head-k+1; parentHash still links across the fork.
TEST_F(TronServerTest, AdminForkAndHead) {
  const std::string before_997 = field(post("/wallet/getblockbynum", R"({"num":997})"), "blockID");
  const std::string before_998 = field(post("/wallet/getblockbynum", R"({"num":998})"), "blockID");
  auto fork = call("POST", "/admin/fork", R"({"depth":3,"advance":1})");
  ASSERT_TRUE(fork);
  EXPECT_EQ("{\"from_height\":998,\"branch\":1,\"head\":1001}\n", fork->body);
  const std::string page = post("/wallet/getblockbylimitnext", R"({"startNum":997,"endNum":1002})");
  EXPECT_EQ((std::vector<std::int64_t>{997, 998, 999, 1000, 1001}), numbers(page));
  EXPECT_EQ(before_997, field(post("/wallet/getblockbynum", R"({"num":997})"), "blockID"));
  const std::string after_998 = post("/wallet/getblockbynum", R"({"num":998})");
  EXPECT_NE(before_998, field(after_998, "blockID"));
  EXPECT_EQ(before_997, field(after_998, "parentHash"));

  auto head = call("POST", "/admin/head", R"({"height":1500})");
  ASSERT_TRUE(head);
  EXPECT_EQ(200, head->status);
  EXPECT_EQ(std::vector<std::int64_t>{1500}, numbers(post("/wallet/getnowblock")));
  EXPECT_EQ(400, call("POST", "/admin/fork", R"({"depth":0})")->status);
  EXPECT_EQ(400, call("POST", "/admin/head", R"({"h":1})")->status);
}

// GET /admin/blocks lists the production times of the heights in [from, to] that have one.
TEST_F(TronServerTest, AdminBlocksListsProductionTimes) {
  EXPECT_EQ("{\"blocks\":[]}", get("/admin/blocks?from=1&to=2000"));
  node_->advance(2);
  const auto& produced = node_->producedAtMs();
  EXPECT_EQ(fmt::format(R"({{"blocks":[{{"height":1002,"produced_at_ms":{}}}]}})",
                        produced.at(1002)),
            get("/admin/blocks?from=1002&to=1005"));
  EXPECT_EQ(400, call("GET", "/admin/blocks?from=1")->status);
  EXPECT_EQ(400, call("GET", "/admin/blocks?from=x&to=2")->status);
}

// Admin: POST sets faults, GET shows them with counters, DELETE clears them.
TEST_F(TronServerTest, AdminFaults) {
  setFaults(R"({"rules":[{"kind":"empty","path":"getblockbynum","count":1}]})");
  EXPECT_EQ("{}", post("/wallet/getblockbynum", R"({"num":3})"));
  EXPECT_EQ(node_->chain().blockJson(3), post("/wallet/getblockbynum", R"({"num":3})"));
  auto shown = call("GET", "/admin/faults");
  ASSERT_TRUE(shown);
  EXPECT_NE(std::string::npos, shown->body.find("\"fired\":1"));
  EXPECT_EQ(400, call("POST", "/admin/faults", R"({"rules":[{"kind":"boom"}]})")->status);
  setFaults(R"({"rules":[{"kind":"java_error"}]})");
  EXPECT_TRUE(post("/wallet/getnowblock").starts_with(R"({"Error":"class java.lang.)"));
  auto cleared = call("DELETE", "/admin/faults");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(std::string::npos, cleared->body.find("java_error"));
  EXPECT_EQ(node_->chain().blockJson(kHead), post("/wallet/getnowblock"));
  auto stats = call("GET", "/admin/stats");
  ASSERT_TRUE(stats);
  EXPECT_NE(std::string::npos, stats->body.find("\"faults\":2"));
}

// HTTP error faults: the status, the Retry-After header, and a JSON Error body.
TEST_F(TronServerTest, HttpErrorFaults) {
  setFaults(R"({"rules":[{"kind":"http_error","status":503,"count":1,"retry_after_s":7},)"
            R"({"kind":"http_error","status":429,"count":1},)"
            R"({"kind":"http_error","status":403,"count":1,"retry_after_s":30},)"
            R"({"kind":"http_error","status":502,"count":1}]})");
  auto r503 = call("POST", "/wallet/getnowblock");
  ASSERT_TRUE(r503);
  EXPECT_EQ(503, r503->status);
  EXPECT_EQ("7", r503->headers.get("Retry-After").value_or(""));
  auto r429 = call("POST", "/wallet/getnowblock");
  EXPECT_EQ(429, r429->status);
  EXPECT_EQ("1", r429->headers.get("Retry-After").value_or(""));
  auto r403 = call("POST", "/wallet/getnowblock");
  EXPECT_EQ(403, r403->status);
  EXPECT_EQ("30", r403->headers.get("Retry-After").value_or(""));
  auto r502 = call("POST", "/wallet/getnowblock");
  EXPECT_EQ(502, r502->status);
  EXPECT_FALSE(r502->headers.contains("Retry-After"));
  EXPECT_EQ(200, call("POST", "/wallet/getnowblock")->status);
}

// The TronGrid suspension fault: 403 with its body; `{}` and Error bodies come with HTTP 200.
TEST_F(TronServerTest, BodyFaults) {
  setFaults(R"({"rules":[{"kind":"suspended","count":1},{"kind":"empty","count":1},)"
            R"({"kind":"java_error","count":1}]})");
  auto suspended = call("POST", "/wallet/getblockbynum", R"({"num":1})");
  ASSERT_TRUE(suspended);
  EXPECT_EQ(403, suspended->status);
  EXPECT_EQ(
      "{\"Error\":\"The key exceeds the frequency limit(15), and the query server is suspended "
      "for 30s\"}\n",
      suspended->body);
  EXPECT_EQ("{}", post("/wallet/getblockbynum", R"({"num":1})"));
  EXPECT_EQ(
      R"({"Error":"class java.lang.IllegalAccessException : lack of computing resources"})",
      post("/wallet/getblockbynum", R"({"num":1})"));
}

// A truncated body and a reset connection are transport errors for the client; the next
// request on a new connection is served normally.
TEST_F(TronServerTest, TruncateAndResetFaults) {
  setFaults(R"({"rules":[{"kind":"truncate","count":1},{"kind":"reset","count":1}]})");
  auto truncated = call("POST", "/wallet/getblockbylimitnext", R"({"startNum":1,"endNum":20})");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(ErrorType::Http, truncated.error().type) << truncated.error().message;
  auto reset = call("POST", "/wallet/getnowblock");
  ASSERT_FALSE(reset);
  EXPECT_EQ(ErrorType::Http, reset.error().type) << reset.error().message;
  EXPECT_EQ(node_->chain().blockJson(kHead), post("/wallet/getnowblock"));
  EXPECT_EQ(1u, server_->stats().truncated);
  EXPECT_EQ(1u, server_->stats().reset);
}

// A stalled request is never answered: the client's own deadline ends it.
TEST_F(TronServerTest, StallFault) {
  setFaults(R"({"rules":[{"kind":"stall","count":1,"path":"/wallet/getnowblock"}]})");
  auto stalled = call("GET", "/wallet/getnowblock", "", std::chrono::milliseconds(200));
  ASSERT_FALSE(stalled);
  EXPECT_EQ(ErrorType::Timeout, stalled.error().type);
  EXPECT_EQ(node_->chain().blockJson(kHead), get("/wallet/getnowblock"));
}

// Latency delays answers by at least latency_ms, only in its scope.
TEST_F(TronServerTest, LatencyFault) {
  setFaults(R"({"latency_ms":150,"latency_path":"/walletsolidity/"})");
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(std::vector<std::int64_t>{982}, numbers(post("/walletsolidity/getnowblock")));
  // libuv timers count from the loop's cached time, which may lag the clock by a few ms.
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(140));
  started = std::chrono::steady_clock::now();
  post("/wallet/getnowblock");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(140));
}

// Path-scoped faults leave other endpoints alone.
TEST_F(TronServerTest, ScopedFault) {
  setFaults(R"({"rules":[{"kind":"http_error","status":500,"path":"/walletsolidity/getnowblock"}]})");
  EXPECT_EQ(500, call("POST", "/walletsolidity/getnowblock")->status);
  EXPECT_EQ(200, call("POST", "/wallet/getnowblock")->status);
}

// Recorded mode serves files by endpoint and key, and `{}` for anything not recorded.
TEST_F(TronServerTest, RecordedMode) {
  const auto dir = std::filesystem::temp_directory_path() / "tronsim_server_test_recorded";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "wallet" / "getblockbynum");
  std::filesystem::create_directories(dir / "wallet" / "getblockbylimitnext");
  std::ofstream(dir / "wallet" / "getblockbynum" / "60954080.json") << R"({"blockID":"x"})";
  std::ofstream(dir / "wallet" / "getblockbylimitnext" / "1-5.json") << "{\"block\":[]}\n";
  NodeOptions options;
  options.recorded_dir = dir.string();
  start(options);
  EXPECT_EQ(R"({"blockID":"x"})", post("/wallet/getblockbynum", R"({"num":60954080})"));
  EXPECT_EQ(R"({"block":[]})", post("/wallet/getblockbylimitnext", R"({"startNum":1,"endNum":5})"));
  EXPECT_EQ("{}", post("/wallet/getblockbynum", R"({"num":1})"));
  EXPECT_EQ("{}", post("/walletsolidity/getnowblock"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tronsim
