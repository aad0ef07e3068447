#include "stages/persister/persister_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "stages/persister/api_token.h"
#include "tests/stages/persister/test_data.h"

namespace stages::persister {
namespace {

pipeline::Result<PersisterConfig> parse(pipeline::config::ConfigSource::Environment env) {
  auto source = pipeline::config::ConfigSource::load("", env);
  EXPECT_TRUE(source);
  return PersisterConfig::parse(*source);
}

// Defaults: var/persister, the database inside it, batches of 2000 or 200 ms, keep every block.
TEST(PersisterConfigTest, Defaults) {
  auto config = parse({});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ("var/persister", config->data_dir);
  EXPECT_EQ("var/persister/pointtron.db", config->db_path);
  EXPECT_TRUE(config->api_tokens.empty());
  EXPECT_EQ(2000u, config->batch_max_records);
  EXPECT_EQ(200, config->batch_max_delay_ms);
  EXPECT_EQ(0, config->block_retention_days);
  EXPECT_EQ(5000, config->busy_timeout_ms);
  EXPECT_EQ(1000, config->api_answer_cache_ms);
}

// Every key is read from the environment and range-checked; a short token is refused without
// showing it.
TEST(PersisterConfigTest, ReadsAndValidatesKeys) {
  auto config = parse({{"POINTTRON_PERSISTER__DATA_DIR", "/srv/pt"},
                       {"POINTTRON_PERSISTER__DB_PATH", "/fast/pt.db"},
                       {"POINTTRON_PERSISTER__API_TOKENS", "aaaaaaaaaaaaaaaa1, bbbbbbbbbbbbbbbb2"},
                       {"POINTTRON_PERSISTER__BATCH_MAX_RECORDS", "10"},
                       {"POINTTRON_PERSISTER__BATCH_MAX_DELAY_MS", "5"},
                       {"POINTTRON_PERSISTER__BLOCK_RETENTION_DAYS", "30"},
                       {"POINTTRON_PERSISTER__BUSY_TIMEOUT_MS", "0"},
                       {"POINTTRON_PERSISTER__API_ANSWER_CACHE_MS", "0"}});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ("/fast/pt.db", config->db_path);
  EXPECT_EQ(2u, config->api_tokens.size());
  EXPECT_EQ(10u, config->batch_max_records);
  EXPECT_EQ(30, config->block_retention_days);
  EXPECT_EQ(0, config->api_answer_cache_ms);
  EXPECT_FALSE(parse({{"POINTTRON_PERSISTER__API_ANSWER_CACHE_MS", "60001"}}));
  auto zero = parse({{"POINTTRON_PERSISTER__BATCH_MAX_RECORDS", "0"}});
  ASSERT_FALSE(zero);
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, zero.error().type);
  EXPECT_FALSE(parse({{"POINTTRON_PERSISTER__BLOCK_RETENTION_DAYS", "-1"}}));
  EXPECT_FALSE(parse({{"POINTTRON_PERSISTER__DATA_DIR", ""}}));
  auto weak = parse({{"POINTTRON_PERSISTER__API_TOKENS", "short-secret"}});
  ASSERT_FALSE(weak);
  EXPECT_EQ(std::string::npos, weak.error().message.find("short-secret"));
}

// S3 settings without a bucket are not silently ignored: the error names the key and the bucket.
TEST(PersisterConfigTest, S3KeysWithoutABucketNameTheMissingBucket) {
  auto config = parse({{"POINTTRON_BACKUP__S3__ENDPOINT", "http://127.0.0.1:9000"}});
  ASSERT_FALSE(config);
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, config.error().type);
  EXPECT_EQ("backup.s3.endpoint: set, but backup.s3.bucket is not: the S3 target needs a bucket",
            config.error().message);
}

// Without configured tokens one is generated into a 0600 file once and read back afterwards.
TEST(ApiTokenTest, GeneratesAPrivateTokenFileOnce) {
  testing::TempDir dir;
  auto first = resolveApiTokens({}, dir.path());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->generated);
  ASSERT_EQ(1u, first->tokens.size());
  EXPECT_EQ(64u, first->tokens[0].size());
  struct stat info {};
  ASSERT_EQ(0, ::stat(first->file.c_str(), &info));
  EXPECT_EQ(0600u, info.st_mode & 0777);
  auto second = resolveApiTokens({}, dir.path());
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->generated);
  EXPECT_EQ(first->tokens, second->tokens);
  // Configured tokens win, and no file is involved.
  auto configured = resolveApiTokens({"configured-token-123"}, dir.path());
  ASSERT_TRUE(configured);
  EXPECT_TRUE(configured->file.empty());
  // A token file others can read is refused.
  ASSERT_EQ(0, ::chmod(first->file.c_str(), 0644));
  auto exposed = resolveApiTokens({}, dir.path());
  ASSERT_FALSE(exposed);
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, exposed.error().type);
}

// The authenticator accepts exactly the configured tokens after "Bearer " (any case).
TEST(ApiTokenTest, AuthenticatesBearerTokens) {
  const TokenAuthenticator auth({"first-token-0123456", "second-token-0123456"});
  using Verdict = TokenAuthenticator::Verdict;
  EXPECT_EQ(Verdict::Accepted, auth.check(std::string_view("Bearer first-token-0123456")));
  EXPECT_EQ(Verdict::Accepted, auth.check(std::string_view("BEARER second-token-0123456")));
  EXPECT_EQ(Verdict::Wrong, auth.check(std::string_view("Bearer first-token-012345")));
  EXPECT_EQ(Verdict::Wrong, auth.check(std::string_view("Bearer x")));
  EXPECT_EQ(Verdict::Missing, auth.check(std::nullopt));
  EXPECT_EQ(Verdict::Missing, auth.check(std::string_view("Bearer")));
  EXPECT_EQ(Verdict::Missing, auth.check(std::string_view("Token first-token-0123456")));
}

}  // namespace
}  // namespace stages::persister
