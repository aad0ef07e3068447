// The S3 client against a real S3-compatible server that verifies every signature (moto_server,
// started here through ops/s3/moto.sh on a free port), and against a scripted local HTTP server
// for the failures a real server does not produce on demand (500s mid-listing, throttling, cut
// connections, stalls).

#include "stages/persister/backup/s3_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/http/server.h"
#include "stages/persister/backup/backup_job.h"
#include "stages/persister/backup/sigv4.h"
#include "stages/persister/records.h"
#include "stages/persister/sqlite_store.h"
#include "tests/integration/child_process.h"
#include "tests/support/loop_runner.h"
#include "tests/stages/persister/test_data.h"
#include "tests/support/raw_http.h"
#include "tests/support/temp_dir.h"

namespace stages::persister::backup {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using pipeline::ErrorType;

const std::string kMotoScript = POINTTRON_SOURCE_DIR "/ops/s3/moto.sh";
constexpr std::string_view kBucket = "pointtron-it";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
using testsupport::TempDir;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void writeFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string randomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

std::string md5Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
  return sigv4::hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// NAME=value lines, as moto.sh writes its env file.
std::map<std::string, std::string> readEnvFile(const std::string& path) {
  std::map<std::string, std::string> values;
  std::istringstream lines(readFile(path));
  for (std::string line; std::getline(lines, line);) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    std::string value = line.substr(equals + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    values[line.substr(0, equals)] = value;
  }
  return values;
}

// Files in `dir` whose name contains `part`: leftovers of a download.
std::vector<std::string> filesContaining(const std::string& dir, std::string_view part) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(part) != std::string::npos) found.push_back(name);
  }
  return found;
}

// One moto_server for the whole suite (it takes ~2 s to start); tests use distinct prefixes.
class S3ClientMotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = std::make_unique<TempDir>("moto");
    const int rc = testsupport::runCommand({"/bin/bash", kMotoScript, "start", "0"},
                                           {{"MOTO_STATE_DIR", state_->path()},
                                            {"MOTO_BUCKETS", std::string(kBucket)},
                                            {"MOTO_REGION", "us-east-1"},
                                            {"MOTO_EXIT_WITH_PID", std::to_string(::getpid())}});
    if (rc == 3) {
      setup_error_ = "moto_server is not installed: run ops/s3/moto.sh install";
      return;
    }
    if (rc != 0) {
      setup_error_ = fmt::format("ops/s3/moto.sh start failed (exit {}); its log: {}", rc,
                                 readFile(state_->file("moto.log")));
      return;
    }
    env_ = readEnvFile(state_->file("moto.env"));
    if (env_["MOTO_ENDPOINT"].empty() || env_["AWS_SECRET_ACCESS_KEY"].empty()) {
      setup_error_ = "ops/s3/moto.sh start wrote no usable " + state_->file("moto.env");
    }
  }

  static void TearDownTestSuite() {
    if (state_) {
      testsupport::runCommand({"/bin/bash", kMotoScript, "stop", "0"},
                              {{"MOTO_STATE_DIR", state_->path()}});
    }
    state_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_FALSE(files_.path().empty());
  }

  // A client of the test bucket whose keys live under a prefix of this test's own.
  static S3Config config(const std::string& prefix = "") {
    S3Config config;
    config.endpoint = env_["MOTO_ENDPOINT"];
    config.region = env_["AWS_REGION"];
    config.bucket = std::string(kBucket);
    config.prefix = prefix;
    config.access_key_id = env_["AWS_ACCESS_KEY_ID"];
    config.secret_access_key = env_["AWS_SECRET_ACCESS_KEY"];
    config.timeout = 20s;
    return config;
  }

  static std::string testPrefix() {
    return fmt::format("it-{}/{}/", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  static inline std::unique_ptr<TempDir> state_;
  static inline std::map<std::string, std::string> env_;
  static inline std::string setup_error_;
  TempDir files_{"s3-files"};
};

// A multi-megabyte file goes up streamed, its ETag is the MD5 of exactly those bytes, HEAD
// describes it, and it comes back byte for byte, replacing the local file atomically.
TEST_F(S3ClientMotoTest, RoundTripsAMultiMegabyteFile) {
  S3Client client(config(testPrefix()));
  const std::string content = randomBytes((5u << 20) + 321, 1);
  writeFile(files_.file("upload.bin"), content);

  auto put = client.putFile("db/backup 1.bin", files_.file("upload.bin"));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ("db/backup 1.bin", put->key);
  EXPECT_EQ(content.size(), put->size);
  EXPECT_EQ(md5Hex(content), put->etag);

  auto head = client.head("db/backup 1.bin");
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(content.size(), head->size);
  EXPECT_EQ(put->etag, head->etag);
  const auto age = std::chrono::system_clock::now() - head->last_modified;
  EXPECT_LT(std::chrono::abs(age), 10min) << "Last-Modified not parsed";

  writeFile(files_.file("download.bin"), "stale content to be replaced");
  auto get = client.getToFile("db/backup 1.bin", files_.file("download.bin"));
  ASSERT_TRUE(get) << get.toString();
  EXPECT_TRUE(readFile(files_.file("download.bin")) == content) << "downloaded bytes differ";
  EXPECT_TRUE(filesContaining(files_.path(), ".part-").empty());
}

// An empty file is a valid object too.
TEST_F(S3ClientMotoTest, RoundTripsAnEmptyFile) {
  S3Client client(config(testPrefix()));
  writeFile(files_.file("empty"), "");

  auto put = client.putFile("empty", files_.file("empty"));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(0u, put->size);
  auto get = client.getToFile("empty", files_.file("empty.back"));
  ASSERT_TRUE(get) << get.toString();
  EXPECT_TRUE(fs::exists(files_.file("empty.back")));
  EXPECT_EQ(0u, fs::file_size(files_.file("empty.back")));
}

// A listing larger than a page is followed through continuation tokens: every key once, in key
// order, relative to the prefix, with size, ETag and time; keys outside the prefix are not listed.
TEST_F(S3ClientMotoTest, ListsEveryPageWithContinuationTokens) {
  const std::string prefix = testPrefix();
  S3Client client(config(prefix));
  std::vector<std::string> expected;
  for (int i = 0; i < 23; ++i) {
    const std::string key = fmt::format("daily/{:03}.bak", i);
    writeFile(files_.file("object"), std::string(static_cast<std::size_t>(i), 'x'));
    auto put = client.putFile(key, files_.file("object"));
    ASSERT_TRUE(put) << put.error().message;
    expected.push_back(key);
  }
  ASSERT_TRUE(client.putFile("other/outside.bak", files_.file("object")));

  auto listed = client.list("daily/", 5);  // 5 pages: 5+5+5+5+3
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> keys;
  for (const auto& object : *listed) keys.push_back(object.key);
  EXPECT_EQ(expected, keys);
  ASSERT_EQ(23u, listed->size());
  EXPECT_EQ(7u, (*listed)[7].size);
  EXPECT_EQ(md5Hex(std::string(7, 'x')), (*listed)[7].etag);
  EXPECT_LT(std::chrono::abs(std::chrono::system_clock::now() - (*listed)[7].last_modified), 10min);

  auto everything = client.list("", 1000);
  ASSERT_TRUE(everything) << everything.error().message;
  EXPECT_EQ(24u, everything->size());
  auto none = client.list("nothing-here/");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
}

// Keys with reserved and non-ASCII characters are encoded so that the server's signature check
// and its key agree with ours, and the listing decodes XML entities back.
TEST_F(S3ClientMotoTest, EncodesKeysWithReservedCharacters) {
  S3Client client(config(testPrefix()));
  writeFile(files_.file("object"), "odd");
  const std::vector<std::string> keys = {"a b/c+d=e&f.bak", "semi;colon,comma:(x)!'*@$.bak",
                                         "caf\xC3\xA9/\xE2\x82\xAC~_-.bak", "amp&lt;<tag>\".bak"};
  for (const auto& key : keys) {
    auto put = client.putFile(key, files_.file("object"));
    ASSERT_TRUE(put) << key << ": " << put.error().message;
    auto head = client.head(key);
    ASSERT_TRUE(head) << key << ": " << head.error().message;
    EXPECT_EQ(3u, head->size);
    ASSERT_TRUE(client.getToFile(key, files_.file("back")));
    EXPECT_EQ("odd", readFile(files_.file("back")));
  }

  auto listed = client.list("");
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> got;
  for (const auto& object : *listed) got.push_back(object.key);
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(want, got);
}

// Deleting removes the object (HEAD and GET then report NoSuchKey as InvalidArgument, leaving the
// local file alone); deleting again still succeeds.
TEST_F(S3ClientMotoTest, RemovesObjects) {
  S3Client client(config(testPrefix()));
  writeFile(files_.file("object"), "short-lived");
  ASSERT_TRUE(client.putFile("gone", files_.file("object")));

  auto removed = client.remove("gone");
  ASSERT_TRUE(removed) << removed.toString();

  auto head = client.head("gone");
  ASSERT_FALSE(head);
  EXPECT_EQ(ErrorType::InvalidArgument, head.error().type) << head.error().message;
  EXPECT_NE(std::string::npos, head.error().message.find("HTTP 404")) << head.error().message;
  writeFile(files_.file("keep"), "local");
  auto get = client.getToFile("gone", files_.file("keep"));
  ASSERT_FALSE(get);
  EXPECT_EQ(ErrorType::InvalidArgument, get.error().type) << get.error().message;
  EXPECT_NE(std::string::npos, get.error().message.find("NoSuchKey")) << get.error().message;
  EXPECT_EQ("local", readFile(files_.file("keep")));
  EXPECT_TRUE(filesContaining(files_.path(), ".part-").empty());

  auto again = client.remove("gone");
  EXPECT_TRUE(again) << again.toString();
}

// The server checks signatures: the same request is accepted with the right secret and refused
// (403 SignatureDoesNotMatch -> InvalidConfig) with a wrong one; no message holds either secret.
TEST_F(S3ClientMotoTest, RefusesAWrongSecretAsInvalidConfig) {
  const std::string prefix = testPrefix();
  writeFile(files_.file("object"), "signed");
  S3Config wrong = config(prefix);
  wrong.secret_access_key = "wrong-secret-never-to-be-printed";
  S3Client bad(wrong);
  S3Client good(config(prefix));

  auto put = bad.putFile("k", files_.file("object"));
  ASSERT_FALSE(put);
  EXPECT_EQ(ErrorType::InvalidConfig, put.error().type) << put.error().message;
  EXPECT_NE(std::string::npos, put.error().message.find("HTTP 403 SignatureDoesNotMatch"))
      << put.error().message;
  auto listed = bad.list("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(ErrorType::InvalidConfig, listed.error().type) << listed.error().message;
  EXPECT_NE(std::string::npos, listed.error().message.find("SignatureDoesNotMatch"));
  auto head = bad.head("k");  // a HEAD answer has no body, hence no code; still a config error
  ASSERT_FALSE(head);
  EXPECT_EQ(ErrorType::InvalidConfig, head.error().type) << head.error().message;
  for (const std::string& message :
       {put.error().message, listed.error().message, head.error().message}) {
    EXPECT_EQ(std::string::npos, message.find(wrong.secret_access_key)) << message;
    EXPECT_EQ(std::string::npos, message.find(env_["AWS_SECRET_ACCESS_KEY"])) << message;
    EXPECT_EQ(std::string::npos, message.find("Signature=")) << message;
  }
  EXPECT_NE(std::string::npos, put.error().message.find(wrong.access_key_id));

  auto accepted = good.putFile("k", files_.file("object"));
  ASSERT_TRUE(accepted) << accepted.error().message;
  auto still_refused = bad.getToFile("k", files_.file("back"));
  ASSERT_FALSE(still_refused);
  EXPECT_EQ(ErrorType::InvalidConfig, still_refused.error().type);
  EXPECT_TRUE(good.getToFile("k", files_.file("back")));
  EXPECT_EQ("signed", readFile(files_.file("back")));
}

// An access key the server does not know is InvalidAccessKeyId, also a configuration error.
TEST_F(S3ClientMotoTest, RefusesAnUnknownAccessKeyAsInvalidConfig) {
  S3Config unknown = config(testPrefix());
  unknown.access_key_id = "AKIAUNKNOWNKEY000000";
  S3Client client(unknown);

  auto listed = client.list("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(ErrorType::InvalidConfig, listed.error().type) << listed.error().message;
  EXPECT_NE(std::string::npos, listed.error().message.find("HTTP 403 InvalidAccessKeyId"))
      << listed.error().message;
  EXPECT_EQ(std::string::npos, listed.error().message.find(unknown.secret_access_key));
}

// A bucket that does not exist is a configuration error, not a missing object.
TEST_F(S3ClientMotoTest, ReportsAMissingBucketAsInvalidConfig) {
  S3Config missing = config(testPrefix());
  missing.bucket = "no-such-bucket-here";
  S3Client client(missing);

  auto listed = client.list("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(ErrorType::InvalidConfig, listed.error().type) << listed.error().message;
  EXPECT_NE(std::string::npos, listed.error().message.find("NoSuchBucket"));
}

// The configured prefix is part of the stored key and absent from what the client returns.
TEST_F(S3ClientMotoTest, PrependsAndStripsThePrefix) {
  const std::string prefix = testPrefix();
  writeFile(files_.file("object"), "prefixed");
  S3Client scoped(config(prefix + "tenant/"));
  ASSERT_TRUE(scoped.putFile("a.bak", files_.file("object")));

  S3Client root(config());
  auto head = root.head(prefix + "tenant/a.bak");
  ASSERT_TRUE(head) << head.error().message;
  auto listed = scoped.list("");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(1u, listed->size());
  EXPECT_EQ("a.bak", (*listed)[0].key);
}

// Virtual-hosted style puts the bucket into the host name (curl resolves *.localhost to loopback).
TEST_F(S3ClientMotoTest, WorksVirtualHosted) {
  S3Config virtual_hosted = config(testPrefix());
  virtual_hosted.path_style = false;
  virtual_hosted.endpoint.replace(virtual_hosted.endpoint.find("127.0.0.1"), 9, "localhost");
  S3Client client(virtual_hosted);
  writeFile(files_.file("object"), "virtual");

  auto put = client.putFile("v/a b.bak", files_.file("object"));
  ASSERT_TRUE(put) << put.error().message;
  auto listed = client.list("v/");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(1u, listed->size());
  EXPECT_EQ("v/a b.bak", (*listed)[0].key);
  S3Client path_style(config(testPrefix()));
  ASSERT_TRUE(path_style.getToFile("v/a b.bak", files_.file("back")));
  EXPECT_EQ("virtual", readFile(files_.file("back")));
}

// A whole backup job against the bucket: two backups of a real database are uploaded and read
// back, retention (keep the last one) deletes the older object, and the restore drill fetches the
// newest from S3, decrypts it and verifies the database against its manifest.
TEST_F(S3ClientMotoTest, BackupJobUploadsPrunesAndDrillsThroughS3) {
  const std::string db = files_.file("live.db");
  {
    auto store = SqliteStore::open({.path = db});
    ASSERT_TRUE(store) << store.error().message;
    RecordParser parser;
    WriteBatch batch;
    for (std::int64_t h = 100; h < 400; ++h) {
      auto block = parser.parse(Input::Blocks, std::to_string(h), testing::blockJson(h, 1795564800000 + h * 3000));
      ASSERT_TRUE(block);
      batch.mutations.push_back(std::move(*block));
    }
    batch.offsets.push_back({.topic = "it.blocks", .partition = 0, .next_offset = 300});
    ASSERT_TRUE((*store)->write(batch));
  }
  auto key = BackupKey::generate("s3-test");
  ASSERT_TRUE(key);
  auto keyring = Keyring::create({*key}, "s3-test");
  ASSERT_TRUE(keyring);
  BackupPlan plan;
  plan.db_path = db;
  plan.work_dir = files_.file("work");
  plan.keep_last = 1;
  plan.keep_daily_days = 0;
  const std::string prefix = testPrefix();
  std::vector<std::unique_ptr<BackupTarget>> targets;
  targets.push_back(s3Target(config(prefix)));
  const auto no_wait = [](std::chrono::milliseconds) { return true; };

  auto first = runBackup(plan, *keyring, targets, 1795564800000, no_wait);
  ASSERT_TRUE(std::holds_alternative<BackupReport>(first)) << std::get<BackupFailure>(first).error.message;
  auto second = runBackup(plan, *keyring, targets, 1795564860000, no_wait);
  ASSERT_TRUE(std::holds_alternative<BackupReport>(second)) << std::get<BackupFailure>(second).error.message;
  const auto& report = std::get<BackupReport>(second);
  EXPECT_EQ(fmt::format("s3://{}/{}{}", kBucket, prefix, report.name), report.locations.at(0));
  ASSERT_EQ(1u, report.pruned.size());

  S3Client client(config(prefix));
  auto objects = client.list("");
  ASSERT_TRUE(objects) << objects.error().message;
  ASSERT_EQ(1u, objects->size());
  EXPECT_EQ(report.name, objects->front().key);
  EXPECT_EQ(report.archive.bytes, objects->front().size);

  auto drilled = drill(*targets.front(), *keyring, plan.work_dir);
  ASSERT_TRUE(drilled) << drilled.error().message;
  EXPECT_EQ(report.manifest, *drilled);
  EXPECT_EQ(399, drilled->highest_block_height);
}


// A scripted S3 stand-in on the test's loop: each request gets the next scripted answer. The
// client runs on a BackgroundTask while this thread turns the loop.
class S3ClientFaultTest : public ::testing::Test {
 protected:
  using Answer = std::function<void(const pipeline::http::Request&, pipeline::http::Responder)>;
  struct Seen {
    std::string method;
    std::string target;
    std::string authorization;
    std::string content_sha256;
    std::string body;
  };
  static constexpr std::string_view kSecret = "fault-secret-never-to-be-printed";

  void start(std::vector<Answer> answers) {
    answers_ = std::move(answers);
    server_ =
        std::make_unique<pipeline::http::Server>(runner_.loop(), pipeline::http::ServerOptions{});
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      server_->routePrefixAsync(
          method, "/",
          [this](const pipeline::http::Request& request, pipeline::http::Responder responder) {
            seen_.push_back({request.method, request.target,
                             std::string(request.header("authorization").value_or("")),
                             std::string(request.header("x-amz-content-sha256").value_or("")),
                             request.body});
            if (next_ < answers_.size()) {
              answers_[next_++](request, std::move(responder));
            } else {
              responder.respond(pipeline::http::Response::text(599, "unscripted request"));
            }
          });
    }
    auto listening = server_->listen();
    ASSERT_TRUE(listening) << listening.toString();
  }

  S3Config config(std::uint16_t port = 0) const {
    S3Config config;
    config.endpoint = fmt::format("http://127.0.0.1:{}", port != 0 ? port : server_->port());
    config.region = "us-east-1";
    config.bucket = "fault-bucket";
    config.access_key_id = "AKIDFAULT";
    config.secret_access_key = std::string(kSecret);
    config.timeout = 5s;
    return config;
  }

  // Runs `call` on a thread while the loop serves; returns what it returned.
  template <typename Call>
  auto run(Call call) -> decltype(call()) {
    std::optional<decltype(call())> result;
    {
      testsupport::BackgroundTask task([&] { result.emplace(call()); });
      EXPECT_TRUE(runner_.runUntil([&] { return task.done(); }, 20s));
    }
    return std::move(*result);
  }

  static Answer respond(int status, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
    return [=](const pipeline::http::Request&, pipeline::http::Responder responder) {
      pipeline::http::Response response;
      response.status = status;
      response.body = body;
      response.headers.add("Content-Type", "application/xml");
      for (const auto& [name, value] : headers) response.headers.add(name, value);
      responder.respond(std::move(response));
    };
  }

  static std::string s3Error(std::string_view code, std::string_view message) {
    return fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>"
        "<RequestId>R1</RequestId></Error>",
        code, message);
  }

  testsupport::LoopRunner runner_;
  std::unique_ptr<pipeline::http::Server> server_;
  std::vector<Answer> answers_;
  std::size_t next_ = 0;
  std::vector<Seen> seen_;
  TempDir files_{"s3-fault"};
};

// A 500 on the second page of a listing fails the whole listing as ErrorType::Http naming the
// method, bucket, status, S3 code and request id; the second request carried the token.
TEST_F(S3ClientFaultTest, ServerErrorMidListingIsAnHttpError) {
  start({respond(200,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
                 "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>fault-bucket</Name>"
                 "<IsTruncated>true</IsTruncated><KeyCount>1</KeyCount>"
                 "<Contents><Key>a</Key><Size>1</Size><ETag>&quot;e1&quot;</ETag>"
                 "<LastModified>2024-01-02T03:04:05.000Z</LastModified></Contents>"
                 "<NextContinuationToken>tok/1+=</NextContinuationToken></ListBucketResult>"),
         respond(500, s3Error("InternalError", "We encountered an internal error."),
                 {{"x-amz-request-id", "REQ500"}})});
  S3Client client(config());

  auto listed = run([&] { return client.list("", 1); });

  ASSERT_FALSE(listed);
  EXPECT_EQ(ErrorType::Http, listed.error().type);
  EXPECT_EQ(
      "s3 GET fault-bucket (list ''): HTTP 500 InternalError: We encountered an internal error. "
      "(request id REQ500)",
      listed.error().message);
  ASSERT_EQ(2u, seen_.size());
  EXPECT_EQ("/fault-bucket?list-type=2&max-keys=1", seen_[0].target);
  EXPECT_EQ("/fault-bucket?continuation-token=tok%2F1%2B%3D&list-type=2&max-keys=1",
            seen_[1].target);
  for (const auto& request : seen_) {
    EXPECT_EQ(0u, request.authorization.find("AWS4-HMAC-SHA256 Credential=AKIDFAULT/"))
        << request.authorization;
    EXPECT_NE(std::string::npos, request.authorization.find("/us-east-1/s3/aws4_request, "));
    EXPECT_EQ(std::string::npos, request.authorization.find(kSecret));
  }
}

// A 500 answering an upload is ErrorType::Http naming the key; the body sent was the file and
// its signed hash the file's SHA-256.
TEST_F(S3ClientFaultTest, ServerErrorOnUploadIsAnHttpError) {
  start({respond(500, s3Error("InternalError", "boom"))});
  S3Client client(config());
  const std::string content = randomBytes(64 * 1024 + 7, 2);
  writeFile(files_.file("up"), content);

  auto put = run([&] { return client.putFile("dir/up.bin", files_.file("up")); });

  ASSERT_FALSE(put);
  EXPECT_EQ(ErrorType::Http, put.error().type);
  EXPECT_EQ("s3 PUT fault-bucket/dir/up.bin: HTTP 500 InternalError: boom", put.error().message);
  ASSERT_EQ(1u, seen_.size());
  EXPECT_EQ("/fault-bucket/dir/up.bin", seen_[0].target);
  EXPECT_EQ(sigv4::sha256Hex(content), seen_[0].content_sha256);
  EXPECT_TRUE(seen_[0].body == content);
}

// Throttling (503 SlowDown, 429) is Unavailable: the caller retries later.
TEST_F(S3ClientFaultTest, ThrottlingIsUnavailable) {
  start({respond(503, s3Error("SlowDown", "Please reduce your request rate.")), respond(429, ""),
         respond(502, "<html>bad gateway</html>")});
  S3Client client(config());

  auto slow = run([&] { return client.remove("k"); });
  ASSERT_FALSE(slow);
  EXPECT_EQ(ErrorType::Unavailable, slow.error().type) << slow.error().message;
  EXPECT_NE(std::string::npos, slow.error().message.find("HTTP 503 SlowDown"));
  auto many = run([&] { return client.head("k"); });
  ASSERT_FALSE(many);
  EXPECT_EQ(ErrorType::Unavailable, many.error().type) << many.error().message;
  auto gateway = run([&] { return client.list(""); });
  ASSERT_FALSE(gateway);
  EXPECT_EQ(ErrorType::Http, gateway.error().type) << gateway.error().message;
  EXPECT_NE(std::string::npos, gateway.error().message.find("HTTP 502 (no error code)"));
}

// A connection cut in the middle of a download is ErrorType::Http; neither the target file nor a
// temporary file is left behind.
TEST_F(S3ClientFaultTest, ConnectionCutMidDownloadLeavesNoFile) {
  start({[](const pipeline::http::Request&, pipeline::http::Responder responder) {
    responder.abort("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nthe first bytes only");
  }});
  S3Client client(config());

  auto get = run([&] { return client.getToFile("big", files_.file("big")); });

  ASSERT_FALSE(get);
  EXPECT_EQ(ErrorType::Http, get.error().type) << get.error().message;
  EXPECT_EQ(0u, get.error().message.find("s3 GET fault-bucket/big: ")) << get.error().message;
  EXPECT_FALSE(fs::exists(files_.file("big")));
  EXPECT_TRUE(filesContaining(files_.path(), ".part-").empty());
}

// HEAD and the listing parse what S3 sends: quoted ETags, both date formats, XML entities, and
// keys are returned without the configured prefix.
TEST_F(S3ClientFaultTest, ParsesHeadAndListAnswers) {
  start({respond(200, std::string(1234, 'x'),
                 {{"ETag", "\"0123abcd\""}, {"Last-Modified", "Mon, 12 Oct 2009 17:50:00 GMT"}}),
         respond(200,
                 "<ListBucketResult><IsTruncated>false</IsTruncated>"
                 "<Contents><Key>p/a&amp;b &lt;c&gt; &#233;&#x20AC;</Key><Size>42</Size>"
                 "<ETag>&quot;ff-2&quot;</ETag><LastModified>2009-10-12T17:50:30.000Z"
                 "</LastModified><StorageClass>STANDARD</StorageClass></Contents>"
                 "</ListBucketResult>")});
  S3Config scoped = config();
  scoped.prefix = "p/";
  S3Client client(scoped);
  using std::chrono::sys_days;
  const auto october12 = sys_days{std::chrono::year{2009} / 10 / 12};

  auto head = run([&] { return client.head("x"); });
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(1234u, head->size);
  EXPECT_EQ("0123abcd", head->etag);
  EXPECT_EQ(october12 + 17h + 50min, head->last_modified);

  auto listed = run([&] { return client.list(""); });
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(1u, listed->size());
  EXPECT_EQ("a&b <c> \xC3\xA9\xE2\x82\xAC", (*listed)[0].key);
  EXPECT_EQ(42u, (*listed)[0].size);
  EXPECT_EQ("ff-2", (*listed)[0].etag);
  EXPECT_EQ(october12 + 17h + 50min + 30s, (*listed)[0].last_modified);
  EXPECT_EQ("/fault-bucket?list-type=2&max-keys=1000&prefix=p%2F", seen_[1].target);
}

// A truncated listing without a continuation token is refused instead of looping forever.
TEST_F(S3ClientFaultTest, TruncatedListingWithoutTokenIsInvalidPayload) {
  start({respond(200, "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")});
  S3Client client(config());

  auto listed = run([&] { return client.list(""); });

  ASSERT_FALSE(listed);
  EXPECT_EQ(ErrorType::InvalidPayload, listed.error().type) << listed.error().message;
}

// A server that accepts the connection and never answers hits the deadline: ErrorType::Timeout.
TEST_F(S3ClientFaultTest, StalledServerTimesOut) {
  testsupport::SilentSocket silent(/*listening=*/true);
  S3Config stalled = config(silent.port());
  stalled.timeout = 300ms;
  S3Client client(stalled);

  const auto began = std::chrono::steady_clock::now();
  auto head = client.head("k");

  ASSERT_FALSE(head);
  EXPECT_EQ(ErrorType::Timeout, head.error().type) << head.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s);
}

// A refused connection is ErrorType::Http.
TEST_F(S3ClientFaultTest, RefusedConnectionIsAnHttpError) {
  testsupport::SilentSocket closed(/*listening=*/false);
  S3Client client(config(closed.port()));

  auto removed = client.remove("k");

  ASSERT_FALSE(removed);
  EXPECT_EQ(ErrorType::Http, removed.error().type) << removed.error().message;
}

// A bad configuration is reported by validate() and by every call, never echoing the secret.
TEST_F(S3ClientFaultTest, BadConfigurationIsInvalidConfig) {
  S3Config bad = config(1);
  bad.endpoint = "http://user:" + std::string(kSecret) + "@127.0.0.1:1/path";
  auto status = S3Client::validate(bad);
  ASSERT_FALSE(status);
  EXPECT_EQ(ErrorType::InvalidConfig, status.error().type);
  EXPECT_EQ(std::string::npos, status.error().message.find(kSecret)) << status.error().message;

  S3Client client(bad);
  auto head = client.head("k");
  ASSERT_FALSE(head);
  EXPECT_EQ(ErrorType::InvalidConfig, head.error().type);
  EXPECT_EQ(status.error().message, head.error().message);

  S3Config no_secret = config(1);
  no_secret.secret_access_key.clear();
  EXPECT_FALSE(S3Client::validate(no_secret));
  EXPECT_TRUE(S3Client::validate(config(1)));
}

}  // namespace
}  // namespace stages::persister::backup
