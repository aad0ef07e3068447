#include "stages/persister/backup/sigv4.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace stages::persister::backup::sigv4 {
namespace {

using std::chrono::sys_days;
using namespace std::chrono_literals;

// The S3 examples of the AWS documentation, "Examples: Signature Calculations in AWS Signature
// Version 4" (AmazonS3/latest/API/sig-v4-header-based-auth.html): bucket examplebucket,
// us-east-1, 2013-05-24T00:00:00Z. Note the '/' (not '+') in this secret.
const Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
const auto kS3ExampleTime = sys_days{std::chrono::year{2013} / 5 / 24};
constexpr std::string_view kS3ExampleHost = "examplebucket.s3.amazonaws.com";
constexpr std::string_view kS3Scope = "20130524/us-east-1/s3/aws4_request";

// The aws-sig-v4-test-suite shipped with the SigV4 documentation: service "service",
// 2015-08-30T12:36:00Z, requests signing only host and x-amz-date.
constexpr std::string_view kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kSuiteDate = "20150830T123600Z";

std::string signatureOf(const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (name == "Authorization") return value.substr(value.rfind("Signature=") + 10);
  }
  return "";
}

std::string headerOf(const HeaderList& headers, std::string_view wanted) {
  for (const auto& [name, value] : headers) {
    if (name == wanted) return value;
  }
  return "<absent>";
}

// Signs a test-suite request at the suite's time through the step-by-step functions.
std::string suiteSignature(std::string_view canonical_uri, QueryList query) {
  Request request{"GET",
                  std::string(canonical_uri),
                  std::move(query),
                  {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", std::string(kSuiteDate)}},
                  std::string(kEmptyPayloadSha256)};
  const std::string scope = credentialScope("20150830", "us-east-1", "service");
  return signature(kSuiteSecret, "20150830", "us-east-1", "service",
                   stringToSign(kSuiteDate, scope, canonicalRequest(request)));
}

// The S3 "GET Object" example: every intermediate value and the signature match the document.
TEST(SigV4Test, MatchesTheS3GetObjectExample) {
  Request request{"GET",
                  "/test.txt",
                  {},
                  {{"Host", std::string(kS3ExampleHost)}, {"Range", "bytes=0-9"}},
                  std::string(kEmptyPayloadSha256)};
  const HeaderList sent = sign(request, kS3Example, "us-east-1", "s3", kS3ExampleTime);

  request.headers.emplace_back("x-amz-date", "20130524T000000Z");
  request.headers.emplace_back("x-amz-content-sha256", std::string(kEmptyPayloadSha256));
  const std::string canonical = canonicalRequest(request);
  EXPECT_EQ(
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      canonical);
  const std::string to_sign = stringToSign("20130524T000000Z", kS3Scope, canonical);
  EXPECT_EQ(
      "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
      to_sign);
  EXPECT_EQ("dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378",
            hex(signingKey(kS3Example.secret_access_key, "20130524", "us-east-1", "s3")));
  EXPECT_EQ("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            signature(kS3Example.secret_access_key, "20130524", "us-east-1", "s3", to_sign));

  EXPECT_EQ(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
      headerOf(sent, "Authorization"));
  EXPECT_EQ("20130524T000000Z", headerOf(sent, "x-amz-date"));
  EXPECT_EQ(kEmptyPayloadSha256, headerOf(sent, "x-amz-content-sha256"));
}

// The S3 "PUT Object" example: '$' in the key is encoded, a Date header and the body hash signed.
TEST(SigV4Test, MatchesTheS3PutObjectExample) {
  const std::string body_hash = sha256Hex("Welcome to Amazon S3.");
  EXPECT_EQ("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", body_hash);
  Request request{"PUT",
                  "/" + encodePath("test$file.text"),
                  {},
                  {{"Host", std::string(kS3ExampleHost)},
                   {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                   {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                  body_hash};
  EXPECT_EQ("/test%24file.text", request.canonical_uri);

  const HeaderList sent = sign(request, kS3Example, "us-east-1", "s3", kS3ExampleTime);

  EXPECT_EQ("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", signatureOf(sent));
  EXPECT_NE(
      std::string::npos,
      headerOf(sent, "Authorization")
          .find("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"));
}

// The S3 "GET Bucket Lifecycle" example: a parameter without value is signed as "lifecycle=".
TEST(SigV4Test, MatchesTheS3GetBucketLifecycleExample) {
  Request request{"GET",
                  "/",
                  {{"lifecycle", ""}},
                  {{"Host", std::string(kS3ExampleHost)}},
                  std::string(kEmptyPayloadSha256)};
  EXPECT_EQ("lifecycle=", canonicalQueryString(request.query));

  EXPECT_EQ("fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            signatureOf(sign(request, kS3Example, "us-east-1", "s3", kS3ExampleTime)));
}

// The S3 "Get Bucket (List Objects)" example: parameters are signed sorted, whatever their order.
TEST(SigV4Test, MatchesTheS3ListObjectsExample) {
  Request request{"GET",
                  "/",
                  {{"prefix", "J"}, {"max-keys", "2"}},
                  {{"Host", std::string(kS3ExampleHost)}},
                  std::string(kEmptyPayloadSha256)};
  EXPECT_EQ("max-keys=2&prefix=J", canonicalQueryString(request.query));

  EXPECT_EQ("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            signatureOf(sign(request, kS3Example, "us-east-1", "s3", kS3ExampleTime)));
}

// The derived-key example of the SigV4 documentation (IAM, 2012-02-15).
TEST(SigV4Test, DerivesTheDocumentedSigningKey) {
  EXPECT_EQ("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
            hex(signingKey(kSuiteSecret, "20120215", "us-east-1", "iam")));
}

// The test suite's get-vanilla, query-order, unreserved-path, UTF-8 path and UTF-8 query cases.
TEST(SigV4Test, MatchesTheSigV4TestSuite) {
  EXPECT_EQ("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            suiteSignature("/", {}));
  EXPECT_EQ("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            suiteSignature("/", {{"Param2", "value2"}, {"Param1", "value1"}}));
  EXPECT_EQ("07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            suiteSignature(encodePath("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "abcdefghijklmnopqrstuvwxyz"),
                           {}));
  EXPECT_EQ("/%E1%88%B4", encodePath("/\xE1\x88\xB4"));
  EXPECT_EQ("8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            suiteSignature(encodePath("/\xE1\x88\xB4"), {}));
  EXPECT_EQ("2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            suiteSignature("/", {{"\xE1\x88\xB4", "bar"}}));
}

// Only unreserved bytes survive; '/' survives in paths only; hex digits are uppercase.
TEST(SigV4Test, UriEncodesLikeTheSpecification) {
  EXPECT_EQ("a%20b%2Bc%3Dd%26e", uriEncode("a b+c=d&e", true));
  EXPECT_EQ("A-z_0.9~", uriEncode("A-z_0.9~", true));
  EXPECT_EQ("a%2Fb", uriEncode("a/b", true));
  EXPECT_EQ("backups/2024/db%201.zst", encodePath("backups/2024/db 1.zst"));
  EXPECT_EQ("a%21%27%28%29%2A%3A%40%24%25", uriEncode("a!'()*:@$%", false));
  EXPECT_EQ("%C3%A9", uriEncode("\xC3\xA9", true));
  EXPECT_EQ("a//b/./c", encodePath("a//b/./c"));  // S3 keys are not normalised
  EXPECT_EQ("continuation-token=1%2Fx%2By%3D%3D&list-type=2",
            canonicalQueryString({{"list-type", "2"}, {"continuation-token", "1/x+y=="}}));
}

// Header names are lowercased and sorted, values trimmed and collapsed, repeats joined in order.
TEST(SigV4Test, CanonicalisesHeaders) {
  const HeaderList headers{{"X-Amz-Meta-B", "  two   words  "},
                           {"Host", "h"},
                           {"x-amz-meta-a", "1"},
                           {"X-AMZ-META-A", "2"}};

  EXPECT_EQ("host:h\nx-amz-meta-a:1,2\nx-amz-meta-b:two words\n", canonicalHeaders(headers));
  EXPECT_EQ("host;x-amz-meta-a;x-amz-meta-b", signedHeaderNames(headers));
}

// A session token is sent and signed; headers the signer owns are replaced, not duplicated.
TEST(SigV4Test, SignsTheSessionTokenAndReplacesOwnedHeaders) {
  Credentials credentials = kS3Example;
  credentials.session_token = "token/with+chars";
  Request request{"GET",
                  "/k",
                  {},
                  {{"Host", "h"}, {"X-Amz-Date", "19990101T000000Z"}},
                  std::string(kEmptyPayloadSha256)};

  const HeaderList sent = sign(request, credentials, "eu-west-1", "s3", kS3ExampleTime);

  EXPECT_EQ("token/with+chars", headerOf(sent, "x-amz-security-token"));
  EXPECT_EQ("<absent>", headerOf(sent, "X-Amz-Date"));
  EXPECT_EQ("20130524T000000Z", headerOf(sent, "x-amz-date"));
  const std::string authorization = headerOf(sent, "Authorization");
  EXPECT_NE(std::string::npos,
            authorization.find("/20130524/eu-west-1/s3/aws4_request, SignedHeaders=host;"
                               "x-amz-content-sha256;x-amz-date;x-amz-security-token, "));
  EXPECT_EQ(std::string::npos, authorization.find(credentials.secret_access_key));
  EXPECT_NE(signatureOf(sign(request, kS3Example, "eu-west-1", "s3", kS3ExampleTime)),
            signatureOf(sent));
}

// Dates are UTC with whole seconds; fractions are dropped, never rounded up.
TEST(SigV4Test, FormatsAmzDate) {
  EXPECT_EQ("20130524T000000Z", amzDate(kS3ExampleTime));
  EXPECT_EQ("20240229T235959Z",
            amzDate(sys_days{std::chrono::year{2024} / 2 / 29} + 23h + 59min + 59s + 999ms));
  EXPECT_EQ("19700101T000000Z", amzDate(std::chrono::system_clock::time_point{}));
}

// Digests agree with the published values (sha256 of "" and of the PUT example body).
TEST(SigV4Test, HashesAndMacs) {
  EXPECT_EQ(kEmptyPayloadSha256, sha256Hex(""));
  // RFC 4231 test case 2.
  EXPECT_EQ("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            hex(hmacSha256("Jefe", "what do ya want for nothing?")));
}

}  // namespace
}  // namespace stages::persister::backup::sigv4
